"""The centre manager's users page in Chromium: add a user (a weak password refused with
the reason), reset a password, change a role, disable; each change audited, and a new role
or a disabled account ends the user's sign-in at once."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.served import Site, screenshot, sign_in

STRONG = "correct-horse-battery-staple"


def test_a_manager_adds_changes_and_disables_a_user(site: Site) -> None:
    admin = site.page_as("admin", path="/admin/users")
    admin.get_by_label("User name").fill("new.starter")
    admin.get_by_label("Role of the new user").select_option(label="Nurse")
    admin.get_by_label("Password (at least 12 characters)").fill("password1234")
    admin.get_by_role("button", name="Add user").click()
    expect(admin.get_by_role("alert")).to_contain_text("password")
    expect(admin.get_by_label("User name")).to_have_value("new.starter")

    admin.get_by_label("Password (at least 12 characters)").fill(STRONG)
    admin.get_by_role("button", name="Add user").click()
    expect(admin.get_by_role("status")).to_have_text("new.starter added as Nurse.")
    row = admin.locator("tr[data-user='new.starter']")
    expect(row).to_contain_text("active")

    starter = site.anonymous()
    sign_in(starter, site, "new.starter", STRONG)
    expect(starter).to_have_url(site.url("/board"))

    # A new role ends the sign-in: the next page asks to sign in again.
    row.get_by_text("Change new.starter").click()
    row.get_by_label("Role of new.starter").select_option(label="Front desk")
    row.get_by_role("button", name="Change role").click()
    expect(admin.get_by_role("status")).to_contain_text("new.starter is now Front desk")
    starter.goto(site.url("/board"))
    expect(starter).to_have_url(re.compile(r"/login"))

    row = admin.locator("tr[data-user='new.starter']")
    row.get_by_text("Change new.starter").click()
    row.get_by_label("New password for new.starter").fill("another-long-passphrase")
    row.get_by_role("button", name="Reset password").click()
    expect(admin.get_by_role("status")).to_contain_text("new.starter has a new password")
    sign_in(starter, site, "new.starter", "another-long-passphrase")
    expect(starter).to_have_url(site.url("/board"))

    row = admin.locator("tr[data-user='new.starter']")
    row.get_by_text("Change new.starter").click()
    row.get_by_role("button", name="Disable new.starter").click()
    expect(admin.get_by_role("status")).to_contain_text("new.starter is disabled")
    expect(admin.locator("tr[data-user='new.starter']")).to_contain_text("disabled")
    starter.goto(site.url("/board"))
    expect(starter).to_have_url(re.compile(r"/login"))
    screenshot(admin, "admin-users")

    # The manager cannot disable or demote themself from the page.
    me = admin.locator("tr[data-user='admin']")
    me.get_by_text("Change admin").click()
    expect(me.get_by_role("button", name="Disable admin")).to_have_count(0)

    audit = site.page_as("admin", path="/admin/audit")
    actions = ("user added", "role changed", "password reset", "user disabled")
    for _ in range(20):  # audit rows are written just behind the change
        if all(audit.get_by_role("cell", name=a).count() for a in actions):
            break
        audit.wait_for_timeout(250)
        audit.reload()
    for action in actions:
        expect(audit.get_by_role("cell", name=action).first).to_be_visible()
