"""Outside the API, a page Django refuses (400) or cannot find (404) is shown in the admin's frame
with the way on, never a bare "Bad Request (400)" or "Not Found" that leaves a person nowhere."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_filter_the_list_does_not_have_offers_the_list_without_it(client, care_manager):
    client.force_login(care_manager)
    client.raise_request_exception = False

    response = client.get("/admin/gaps/caregap/", {"ordering": "-id"})

    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="site-name"' in page and "Address not understood" in page
    assert '<a href="/admin/gaps/caregap/">Open the page without them</a>' in page
    assert '<a href="/admin/">Back to the front page</a>' in page


def test_an_address_that_names_nothing_says_so_in_the_admins_frame(client, care_manager):
    client.force_login(care_manager)

    response = client.get("/admin/star-ratings/no-such-page/")

    page = response.content.decode()
    assert response.status_code == 404
    assert 'id="site-name"' in page and "Not found" in page and "not in your contracts" in page
    assert '<a href="/admin/">Back to the front page</a>' in page


def test_someone_not_signed_in_gets_the_same_page(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "not in your contracts" in response.content.decode()


def test_a_request_refused_before_the_user_is_known_is_still_a_plain_400(client):
    client.raise_request_exception = False

    response = client.get("/admin/", HTTP_HOST="not-this-portal.example")

    assert response.status_code == 400
    assert "Address not understood" not in response.content.decode()


def test_the_api_keeps_its_own_error_shape(api, care_manager):
    response = api(care_manager).get("/api/no-such-route/")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
