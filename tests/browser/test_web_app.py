"""The web app as its owners use it, in headless Chromium: alice, bob and
carol each on their own daemon's pages, with a real relay between them.
alice's audience "family" holds bob and not carol; "neighbours" holds carol."""

import http.client
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import (DELIVERY, answers, assert_at, feed_texts, field, heading, home, is_events, kith, mark_page, network_events,
                      page_was_not_reloaded, post_article, replaced, screenshot, sign_in, submit, thread_link,
                      wait_for_live_updates)


@pytest.fixture(scope="module")
def alice(browsers):
    driver = browsers()
    return driver, sign_in(driver, "alice")


def choose_audience(driver, name):
    """Picks an audience in the composer by its label, which names who reads it; that label."""
    label = driver.find_element(
        By.XPATH, f"//fieldset[legend[normalize-space()='Who can read it']]//label[starts-with(normalize-space(), '{name} ')]")
    label.click()
    assert driver.find_element(By.ID, label.get_attribute("for")).is_selected()
    return label.text


PHOTO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "KithImageTests", "Fixtures", "phone.jpg"))


def all_loaded(driver, images):
    """Whether there are images and each has loaded (a broken one has no natural width)."""
    return bool(images) and all(driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0;", image)
                                for image in images)


def shows_a_photo(driver, text):
    """Whether the post whose text contains text shows a photo that loaded, its thumbnail linking to the photo."""
    article = post_article(driver, text)
    images = article.find_elements(By.CSS_SELECTOR, ".photos a[href*='/photos/1'] img") if article is not None else []
    return all_loaded(driver, images)


def test_a_post_reaches_bob_live_and_not_carol(browsers, alice):
    alice, alice_app = alice
    post = "The baby is here! 3.4 kg, everyone is well."
    comment = "Congratulations, all of you!"
    neighbours_post = "The bins go out on Tuesday this week."

    # bob's and carol's feeds are open before alice posts, and the test never loads bob's again.
    bob = browsers()
    bob_app = sign_in(bob, "bob")
    wait_for_live_updates(bob, bob_app)
    mark_page(bob)
    carol = browsers()
    carol_app = sign_in(carol, "carol")

    # alice writes to "family" from her feed's form; the composer says who reads each audience.
    field(alice, "Text").send_keys(post)
    assert choose_audience(alice, "family") == "family (you and bob)"
    # alice attaches a photo (with GPS tags) in the composer; the page previews it before anything is sent.
    field(alice, "Photos (JPEG, PNG or WebP; up to 10)").send_keys(PHOTO)
    WebDriverWait(alice, 10, poll_frequency=0.2).until(
        lambda d: all_loaded(d, d.find_elements(By.CSS_SELECTOR, "#photo-previews img")), "the composer never previewed the photo")
    network_events(alice)
    submit(field(alice, "Text"))
    # The answer says what was removed from the photo before it left the machine.
    assert heading(alice) == "Posted" and "GPS" in alice.find_element(By.TAG_NAME, "main").text
    alice.find_element(By.LINK_TEXT, "Go back").click()
    assert_at(alice, alice_app + "/")
    wait_for_live_updates(alice, alice_app)
    mark_page(alice)
    article = post_article(alice, post)
    assert article is not None and "to family" in article.text
    assert shows_a_photo(alice, post)
    post_id = thread_link(article).get_attribute("href").rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{8,64}", post_id)
    screenshot(alice, "alice-feed")
    # A post to carol, through the binary, so that her feed is seen to receive what is hers.
    kith("post", "--home", home("alice"), "--to", "neighbours", neighbours_post)

    # bob's page shows the post without a reload: the page's script heard of it from the daemon.
    WebDriverWait(bob, DELIVERY, poll_frequency=0.5).until(lambda d: post_article(d, post), "bob's page never showed the post")
    assert page_was_not_reloaded(bob)
    assert_at(bob, bob_app + "/")
    assert "alice" in post_article(bob, post).text
    WebDriverWait(bob, 30, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: shows_a_photo(d, post), "bob's page never showed the photo")
    assert page_was_not_reloaded(bob)
    screenshot(bob, "bob-live")

    # bob comments from the post's page.
    thread_link(post_article(bob, post)).click()
    assert_at(bob, f"{bob_app}/posts/{post_id}")
    assert shows_a_photo(bob, post)
    field(bob, "Your comment").send_keys(comment)
    submit(field(bob, "Your comment"))
    assert_at(bob, f"{bob_app}/posts/{post_id}")
    assert comment in bob.find_element(By.TAG_NAME, "main").text
    # bob reacts to the post with the page's reaction button; the page comes back with his reaction pressed.
    button = bob.find_element(By.XPATH, "//button[@aria-label='React with 👍']")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    WebDriverWait(bob, 30).until(lambda _: replaced(button), "the reaction's answer never replaced the page")
    assert_at(bob, f"{bob_app}/posts/{post_id}#post-{post_id}")
    mine = bob.find_element(By.XPATH, "//button[@aria-label='React with 👍']")
    assert mine.get_attribute("aria-pressed") == "true" and mine.text == "👍 1" and mine.get_attribute("title") == "bob"

    # alice's feed, never reloaded, counts the comment when it arrives; the post's page shows it.
    def counts_the_comment(driver):
        article = post_article(driver, post)
        return article is not None and thread_link(article).text == "1 comment"
    # The script swaps in the new list of posts, so an element found a moment before may be gone.
    WebDriverWait(alice, DELIVERY, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]).until(
        counts_the_comment, "alice's page never counted bob's comment")
    assert page_was_not_reloaded(alice)

    # alice's page, still never reloaded, shows bob's reaction, who made it, and that it is not hers.
    def shows_the_reaction(driver):
        article = post_article(driver, post)
        found = article.find_elements(By.XPATH, ".//button[@aria-label='React with 👍']") if article else []
        return found and found[0].text == "👍 1" and found[0].get_attribute("title") == "bob" \
            and found[0].get_attribute("aria-pressed") == "false"
    WebDriverWait(alice, DELIVERY, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]).until(
        shows_the_reaction, "alice's page never showed bob's reaction")
    assert page_was_not_reloaded(alice)
    thread_link(post_article(alice, post)).click()
    main = alice.find_element(By.TAG_NAME, "main").text
    assert post in main and comment in main
    comment_element = alice.find_element(By.XPATH, f"//main//*[normalize-space()='{comment}']/ancestor::article[1]")
    assert "bob" in comment_element.text
    screenshot(alice, "post-with-comment")

    # carol, outside "family", syncs: her feed gets alice's post to "neighbours", never the one to family nor its comment.
    def carol_has_neighbours_post(driver):
        kith("sync", "--home", home("carol"))
        driver.get(carol_app + "/")
        return post_article(driver, neighbours_post) is not None
    WebDriverWait(carol, DELIVERY, poll_frequency=1).until(carol_has_neighbours_post, "carol never got alice's post to neighbours")
    for page in ["/", f"/posts/{post_id}"]:
        carol.get(carol_app + page)
        shown = carol.find_element(By.TAG_NAME, "body").text
        assert post not in shown and comment not in shown and post not in carol.page_source, page
    assert post not in feed_texts("carol")


class ForgingSite:
    """Another site's page, served on loopback, whose form posts to alice's app as soon as it loads."""

    def __init__(self, target):
        page = ("<!doctype html><title>Win a prize</title>"
                f'<form method="post" action="{target}/posts">'
                '<input name="text" value="Forged from another site"><input name="audience" value="family">'
                "</form><script>document.forms[0].submit()</script>").encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# Pages on loopback at another port, under two names: neither is the app's own host name.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_form_on_another_site_cannot_post(alice, host):
    alice, alice_app = alice
    site = ForgingSite(alice_app)
    try:
        network_events(alice)
        alice.get(f"http://{host}:{site.port}/forged.html")
        WebDriverWait(alice, 30).until(lambda d: d.current_url == alice_app + "/posts", "the forged form was not sent")
        assert (alice_app + "/posts", 403) in answers(network_events(alice))
        assert heading(alice) != "Feed"
    finally:
        site.close()
    alice.get(alice_app + "/")
    assert post_article(alice, "Forged from another site") is None
    assert "Forged from another site" not in feed_texts("alice")


def test_a_wrong_host_is_refused(alice):
    alice, alice_app = alice
    kith("post", "--home", home("alice"), "--to", "family", "Only for the family")
    cookie = alice.get_cookie("kith_session")
    assert cookie and cookie["httpOnly"]
    own = alice_app.split("//", 1)[1]
    port = int(own.rsplit(":", 1)[1])

    def get(host):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.putrequest("GET", "/", skip_host=True)
            connection.putheader("Host", host)
            connection.putheader("Cookie", f"kith_session={cookie['value']}")
            connection.endheaders()
            answer = connection.getresponse()
            return answer.status, answer.read().decode()
        finally:
            connection.close()

    # The same cookie with the app's own name for itself reads the feed: the refusals below are the Host's doing.
    status, body = get(own)
    assert status == 200 and "Only for the family" in body
    for host in [f"evil.example:{port}", f"127.0.0.1:{port}", f"localhost:{port}", own.rsplit(":", 1)[0], "127.0.0.1"]:
        status, body = get(host)
        assert status == 421 and "Only for the family" not in body, host


def test_everything_works_without_javascript(browsers):
    browser = browsers(javascript=False)
    app = sign_in(browser, "alice")
    kith("post", "--home", home("alice"), "--to", "family", "Posted from the terminal")
    post = "Written in a browser without JavaScript"
    comment = "A comment, without JavaScript too"

    # The feed.
    browser.get(app + "/")
    assert post_article(browser, "Posted from the terminal") is not None
    # A post through the form.
    field(browser, "Text").send_keys(post)
    choose_audience(browser, "family")
    submit(field(browser, "Text"))
    assert_at(browser, app + "/")
    article = post_article(browser, post)
    assert article is not None and "to family" in article.text
    # A comment through the form on the post's page.
    thread_link(article).click()
    field(browser, "Your comment").send_keys(comment)
    submit(field(browser, "Your comment"))
    assert comment in browser.find_element(By.TAG_NAME, "main").text
    assert post in feed_texts("alice")
    screenshot(browser, "no-javascript")
    # No script ran: the page's script would have opened /events.
    assert not [url for url, _ in answers(network_events(browser)) if is_events(url)]


def test_phone_width_and_dark_mode(alice):
    alice, alice_app = alice
    alice.get(alice_app + "/")
    try:
        alice.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        alice.get(alice_app + "/")
        # Nothing is wider than the phone: no sideways scrolling.
        assert alice.execute_script("return document.documentElement.scrollWidth;") <= 390
        screenshot(alice, "phone")
    finally:
        alice.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def background():
        colour = alice.execute_script("return getComputedStyle(document.body).backgroundColor;")
        return [int(part) for part in re.findall(r"[0-9]+", colour)[:3]]

    assert sum(background()) > 600, "light by default"
    try:
        alice.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        assert sum(background()) < 150, "dark when the system asks for it"
        screenshot(alice, "dark")
    finally:
        alice.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
