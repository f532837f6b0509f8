"""CMS contracts and the plan's members (pseudonymous: keyed hash, birth year, sex, flags)."""

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from hedis_portal.backends import visible_contract_ids
from members.identifiers import PSEUDONYM_MAX_LENGTH, pseudonyms_allocate

CONTRACT_ID_PATTERN = r"^[HRSE][0-9]{4}$"


class ContractScopedQuerySet(models.QuerySet):
    """Base queryset for every model that belongs to a contract.

    `visible_to(user)` is the one scoping call used by the API and the admin alike:
    superusers see every contract, everyone else the contracts they are assigned to.
    `contract_field` is the lookup path from the model to its contract's primary key.
    """

    contract_field = "contract_id"

    def visible_to(self, user):
        """Rows of the contracts `user` may see; nothing for anonymous users."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(**{f"{self.contract_field}__in": visible_contract_ids(user)})


class ContractQuerySet(ContractScopedQuerySet):
    """Contracts; scoped on their own primary key."""

    contract_field = "pk"


class Contract(models.Model):
    """A CMS contract (e.g. H1234): the unit CMS rates, and the unit of access control."""

    class OrganizationType(models.TextChoices):
        MA_PD = "ma_pd", "MA-PD"
        MA_ONLY = "ma_only", "MA-only"
        PDP = "pdp", "PDP"

    contract_id = models.CharField(
        "CMS contract ID",
        max_length=5,
        unique=True,
        validators=[
            RegexValidator(CONTRACT_ID_PATTERN, "A CMS contract ID is H, R, S or E followed by four digits.")
        ],
    )
    name = models.CharField(max_length=200)
    organization_type = models.CharField(max_length=10, choices=OrganizationType.choices)
    snp = models.BooleanField("offers a special needs plan", default=False)
    enrollment = models.PositiveIntegerField(default=0)
    lis_de_percent = models.DecimalField(
        "LIS/DE %",
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of enrollees with low-income subsidy or dual eligibility (CAI category).",
    )
    disability_percent = models.DecimalField(
        "disability %",
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="contracts",
        help_text="Users who may see and work this contract's data.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContractQuerySet.as_manager()

    class Meta:
        ordering = ["contract_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lis_de_percent__gte=0, lis_de_percent__lte=100),
                name="contract_lis_de_percent_range",
                violation_error_message="LIS/DE % must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=models.Q(disability_percent__gte=0, disability_percent__lte=100),
                name="contract_disability_percent_range",
                violation_error_message="Disability % must be between 0 and 100.",
            ),
        ]

    def __str__(self) -> str:
        return self.contract_id


class MemberQuerySet(ContractScopedQuerySet):
    """Members, scoped by their contract."""

    def bulk_create(self, objs, *args, **kwargs):
        """Create the members, giving those without a pseudonym theirs first (set-based, per contract).

        Imports and the demo create members in bulk, where `save()` is not called: the pseudonym
        is allocated here so that no member is ever written without one.
        """
        members = list(objs)
        pseudonyms_assign([member for member in members if not member.pseudonym])
        return super().bulk_create(members, *args, **kwargs)


class Member(models.Model):
    """A member, known only by the keyed hash of their plan member ID and what measures need.

    Still PHI under HIPAA (a stable pseudonym plus birth year, sex and social-risk flags):
    the design minimizes what is kept; it does not de-identify.
    """

    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        UNKNOWN = "U", "Unknown"

    id_hash = models.CharField(
        "member ID hash",
        max_length=64,
        unique=True,
        editable=False,
        help_text="HMAC-SHA256 of the plan's member ID with MEMBER_ID_HASH_KEY.",
    )
    pseudonym = models.CharField(
        max_length=PSEUDONYM_MAX_LENGTH,
        editable=False,
        help_text="A short code from the member ID hash (e.g. K7QD-2M9X-HT4P), unique within the contract.",
    )
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="members")
    birth_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1900), MaxValueValidator(2100)]
    )
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    lis_de = models.BooleanField("LIS/DE", default=False, help_text="Low-income subsidy or dual eligible.")
    disability = models.BooleanField(default=False, help_text="Originally entitled by disability.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        # Joining a worklist to the plan's own roster puts raw member IDs and contact details
        # beside the gaps: a role grants it apart from reading members (`hedis_portal.roles`).
        permissions = [("reidentify_member", "Can re-identify members from a plan roster")]
        indexes = [
            models.Index(fields=["contract", "active"], name="member_contract_active"),
            # Pseudonyms are searched by prefix (LIKE 'K7QD-2M%'); PostgreSQL uses an index for
            # that only with the pattern operator class. Other databases ignore `opclasses`.
            models.Index(
                fields=["pseudonym"], name="member_pseudonym_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "pseudonym"],
                name="member_pseudonym_unique_in_contract",
                violation_error_message="Another member of this contract has this pseudonym.",
            ),
            models.CheckConstraint(
                condition=models.Q(birth_year__gte=1900, birth_year__lte=2100),
                name="member_birth_year_range",
                violation_error_message="Birth year must be between 1900 and 2100.",
            ),
        ]

    def __str__(self) -> str:
        return f"Member {self.pseudonym}"

    def save(self, *args, **kwargs):
        if not self.pseudonym:
            pseudonyms_assign([self])
        super().save(*args, **kwargs)


def pseudonyms_assign(members: list[Member]) -> None:
    """Give each of these new members their pseudonym: the shortest code free in their contract."""
    by_contract: dict[int, list[Member]] = {}
    for member in members:
        by_contract.setdefault(member.contract_id, []).append(member)
    for contract_id, group in by_contract.items():
        codes = pseudonyms_allocate(
            [member.id_hash for member in group], Member.objects.filter(contract_id=contract_id)
        )
        for member, code in zip(group, codes, strict=True):
            member.pseudonym = code


auditlog.register(Contract, m2m_fields={"users"})
auditlog.register(Member)
