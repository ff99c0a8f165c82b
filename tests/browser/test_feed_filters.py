"""The feed's filters in a browser: the filter form, the links from a post to
its author's and its audience's posts, live updates that keep the filter, and
an older page that live updates leave alone."""

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from conftest import (DELIVERY, answers, assert_at, field, home, is_events, kith, mark_page, network_events, page_was_not_reloaded,
                      post_article, sign_in, submit, wait_for_live_updates)


def articles(driver):
    """The ids of the posts on the page, in order."""
    return [a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "#posts article")]


def shows(driver, text):
    WebDriverWait(driver, DELIVERY, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: post_article(d, text) is not None, f"the page never showed {text!r}")


def test_a_filtered_feed_updates_live_with_its_filter(browsers):
    kith("group", "create", "--home", home("alice"), "book club")
    kith("group", "add", "--home", home("alice"), "book club", "bob")
    bob = browsers()
    app = sign_in(bob, "bob")

    # The filter form: labelled selects, sent as a plain GET.
    Select(field(bob, "To")).select_by_visible_text("All audiences")
    Select(field(bob, "From")).select_by_visible_text("alice")
    submit(field(bob, "From"))
    assert_at(bob, app + "/?author=alice&audience=")
    assert "Showing only posts from alice" in bob.find_element(By.TAG_NAME, "main").text

    # A click on a post's audience shows that audience's posts only; the page stays open from here on.
    kith("post", "--home", home("alice"), "--to", "family", "Family news, to click on")
    # Loaded once bob's node holds the post: a page made before that shows it only by a live update.
    WebDriverWait(bob, DELIVERY, poll_frequency=1).until(
        lambda _: "Family news, to click on" in kith("feed", "--home", home("bob")), "bob's node never got the family's post")
    bob.get(app + "/")
    shows(bob, "Family news, to click on")
    # The daemon tells pages of the post just after its node holds it: a page made in between is refreshed
    # as soon as its stream opens, which may replace the link under the click.
    WebDriverWait(bob, 10, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: post_article(d, "Family news, to click on").find_element(By.LINK_TEXT, "family").click() or True)
    assert_at(bob, app + "/?audience=family")
    wait_for_live_updates(bob, app)
    mark_page(bob)

    # alice posts to the book club, then to the family: the page shows the family's post live, never the other.
    kith("post", "--home", home("alice"), "--to", "book club", "Book club meets on Thursday")
    kith("post", "--home", home("alice"), "--to", "family", "Family dinner on Sunday")
    shows(bob, "Family dinner on Sunday")
    # Once bob's node holds the book club's post, one more family post: the refresh it brings came after both.
    WebDriverWait(bob, DELIVERY, poll_frequency=1).until(
        lambda _: "Book club meets on Thursday" in kith("feed", "--home", home("bob"), "--audience", "book club"),
        "bob's node never got the book club's post")
    kith("post", "--home", home("alice"), "--to", "family", "Dinner moved to seven")
    shows(bob, "Dinner moved to seven")
    assert page_was_not_reloaded(bob)
    assert post_article(bob, "Book club meets on Thursday") is None
    assert all("to family" in a.text for a in bob.find_elements(By.CSS_SELECTOR, "#posts article"))
    assert any(url.startswith(app + "/?audience=family&live=1") for url, _ in answers(network_events(bob)))


def test_an_older_page_is_left_alone_by_live_updates(browsers):
    # More than a page of posts in bob's feed.
    count = len(kith("feed", "--home", home("bob"), "--all", "--json").split('"id"')) - 1
    for n in range(max(0, 25 - count)):
        kith("post", "--home", home("alice"), "--to", "family", f"Filler post {n}")
    WebDriverWait(None, DELIVERY, poll_frequency=1).until(
        lambda _: len(kith("feed", "--home", home("bob"), "--all", "--json").split('"id"')) - 1 >= 25, "bob never had 25 posts")

    # One of bob's browsers on the first page, to see the new post arrive; another on the older posts.
    first = browsers()
    app = sign_in(first, "bob")
    wait_for_live_updates(first, app)
    older = browsers()
    sign_in(older, "bob")
    older.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    WebDriverWait(older, 30).until(lambda d: "before=" in d.current_url, "the older posts did not load")
    network_events(older)
    mark_page(older)
    before = articles(older)
    assert len(before) >= 5 and len(set(before)) == len(before)

    kith("post", "--home", home("alice"), "--to", "family", "A post while the older page is open")
    shows(first, "A post while the older page is open")
    assert page_was_not_reloaded(older)
    assert articles(older) == before, "the older page's posts are as loaded, none lost, none twice"
    # Its script never listens: no stream of events, no fetch of the first page.
    assert not [url for url, _ in answers(network_events(older)) if is_events(url) or "live=1" in url]
