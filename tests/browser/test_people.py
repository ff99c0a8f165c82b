"""The people pages in headless Chromium: alice shows her invitation (as
text and as a QR code, read back with zbarimg), dave, a new node with a
daemon of his own, pastes it in his browser; alice accepts his request,
they exchange a message that appears live, and alice makes an audience
with dave."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import (DELIVERY, KITH, NODES, field, heading, home, kith, mark_page, page_was_not_reloaded, screenshot,
                      sign_in, submit, wait_for_live_updates)


@pytest.fixture(scope="module")
def dave():
    """A new node on alice's relay, its daemon serving its web app; stopped at the end."""
    status = subprocess.run([KITH, "status", "--home", home("alice"), "--json"], capture_output=True, text=True, timeout=120)
    relay = next(r["relay"] for r in json.loads(status.stdout)["node"]["relays"] if r["mine"])
    kith("init", "--home", home("dave"), "--name", "dave", "--relay", relay)
    env = dict(os.environ, KITH_WEB_LISTEN="127.0.0.1:0", KITH_SYNC_INTERVAL="5", KITH_OUTBOX_RETRY_FIRST="1",
               KITH_OUTBOX_RETRY_LONGEST="2", KITH_LOG_DESTINATION=os.path.join(NODES, "dave.log"))
    out = open(os.path.join(NODES, "dave.out"), "w+")
    daemon = subprocess.Popen([KITH, "daemon", "--home", home("dave")], stdout=out, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, env=env)
    try:
        WebDriverWait(None, 60, poll_frequency=0.2).until(
            lambda _: "daemon running, control socket " in open(out.name).read(), "dave's daemon did not start")
        yield "dave"
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        out.close()


def decode_qr(element):
    """The text of the QR code in element's screenshot, as zbarimg reads it."""
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "no zbarimg: apt-get install zbar-tools"
    with tempfile.NamedTemporaryFile(suffix=".png", dir=os.environ.get("TMPDIR")) as image:
        image.write(element.screenshot_as_png)
        image.flush()
        done = subprocess.run([zbarimg, "--quiet", "--raw", image.name], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "zbarimg found no QR code"
    return done.stdout.strip()


def write(driver, friend, text):
    """Sends text from the open conversation's form; waits until the answer's page shows it."""
    message = field(driver, f"Your message to {friend}")
    message.send_keys(text)
    driver.find_element(By.XPATH, "//form[@id='write']//button[@type='submit']").click()
    # Until the new page has replaced this one, its elements may vanish under the driver's feet.
    WebDriverWait(driver, 30, poll_frequency=0.2, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.current_url.endswith("#write") and text in d.find_element(By.ID, "messages").text, "the message was not sent")


def test_an_invitation_makes_friends_who_write_live_and_share_an_audience(browsers, dave):
    alice = browsers()
    alice_base = sign_in(alice, "alice")
    their = browsers()
    dave_base = sign_in(their, dave)

    # dave's feed shows the first steps of a node without friends.
    assert "First steps" in their.find_element(By.TAG_NAME, "main").text

    # alice makes an invitation: text to copy, and a QR code that reads back as the same text.
    alice.get(alice_base + "/friends")
    assert heading(alice) == "Friends"
    submit(field(alice, "How long it works"))
    text = alice.find_element(By.ID, "invitation-text").get_attribute("value")
    assert text.startswith("kith-invite:http://127.0.0.1:")
    qr = alice.find_element(By.CSS_SELECTOR, "figure.qr svg")
    alice.execute_script("arguments[0].scrollIntoView();", qr)
    assert decode_qr(qr) == text
    screenshot(alice, "friends-invitation")

    # dave pastes it: he has alice as a friend, with her safety number.
    their.get(dave_base + "/friends")
    pasted = field(their, "Their invitation (kith-invite:...) or contact card (kith-card:...)")
    pasted.send_keys(text)
    submit(pasted)
    assert heading(their) == "alice"
    number = their.find_element(By.CSS_SELECTOR, ".safety-number code").text

    # alice sees his request, accepts it, and reads the same safety number.
    def has_request(driver):
        driver.get(alice_base + "/friends")
        return driver.find_elements(By.XPATH, "//button[normalize-space()='Accept dave']")
    WebDriverWait(alice, DELIVERY, poll_frequency=1).until(has_request, "dave's request never reached alice")
    accept = alice.find_element(By.XPATH, "//button[normalize-space()='Accept dave']")
    accept.click()
    WebDriverWait(alice, 30, ignored_exceptions=(WebDriverException,)).until(lambda d: heading(d) == "dave")
    assert alice.find_element(By.CSS_SELECTOR, ".safety-number code").text == number
    submit(alice.find_element(By.XPATH, "//button[starts-with(normalize-space(), 'It matched')]"))
    assert "✓ yes" in alice.find_element(By.CSS_SELECTOR, ".facts").text

    # alice's conversation with dave is open; his message appears there live, without a reload.
    alice.get(alice_base + "/chat?friend=dave")
    mark_page(alice)
    wait_for_live_updates(alice, alice_base)
    their.get(dave_base + "/chat?friend=alice")
    write(their, "alice", "hello alice, from my new node")
    WebDriverWait(alice, DELIVERY, poll_frequency=0.5).until(
        lambda d: "hello alice, from my new node" in d.find_element(By.ID, "messages").text, "the message never appeared live")
    assert page_was_not_reloaded(alice)
    write(alice, "dave", "welcome, dave")
    screenshot(alice, "conversation")

    # alice makes an audience with dave in it.
    alice.get(alice_base + "/audiences")
    name = field(alice, "Its name, e.g. film club")
    name.send_keys("film club")
    submit(name)
    assert heading(alice) == "Audience film club"
    Select(field(alice, "Friend")).select_by_visible_text("dave")
    submit(field(alice, "Friend"))
    assert "dave" in alice.find_element(By.XPATH, "//section[h2='Members']").text
    assert "film club: dave" in kith("group", "list", "--home", home("alice"))
