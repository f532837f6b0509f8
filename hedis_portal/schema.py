"""OpenAPI schema extensions (imported in `HedisPortalConfig.ready`)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AuditedTokenScheme(OpenApiAuthenticationExtension):
    """Documents our knox token authentication: `Authorization: Token <token>`."""

    target_class = "hedis_portal.audit.AuditedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, from POST /api/auth/login/",
        }
