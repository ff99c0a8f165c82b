"""Headless Chromium on real Kith daemons: the people, their browsers, and
what a test asks of them. scripts/browser-test.sh starts the relay and the
daemons of alice, bob and carol and names them in the environment:
KITH_BIN (the kith binary), KITH_TEST_DIR (the node directories, one per
name), KITH_SCREENSHOTS (where screenshots go)."""

import json
import os
import re
import subprocess
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

# Debian's browser and driver, never one that Selenium Manager would fetch.
os.environ["SE_OFFLINE"] = "true"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

KITH = os.environ["KITH_BIN"]
NODES = os.environ["KITH_TEST_DIR"]
SCREENSHOTS = os.environ["KITH_SCREENSHOTS"]

# How long a post or comment may take to go from one daemon to another
# through the relay (the daemons sync every 5 s and long-poll the relay).
DELIVERY = 90


def kith(*args):
    """Runs the kith binary; its standard output, stripped. Fails the test on a non-zero exit."""
    done = subprocess.run([KITH, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kith {args[0]}: {done.stderr}"
    return done.stdout.strip()


def home(name):
    return os.path.join(NODES, name)


def feed_texts(name):
    """The text of every post in name's feed, through the binary."""
    return [post["text"] for post in json.loads(kith("feed", "--home", home(name), "--all", "--json"))["posts"]]


def chrome(javascript=True):
    """A new headless Chromium with a profile of its own (its own cookies)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.add_argument("--headless=new")
    options.add_argument("--window-size=900,1000")
    options.add_argument("--hide-scrollbars")
    if os.geteuid() == 0:
        # Chromium will not start as root with its sandbox (CI runs as root).
        # Without it the browser is not isolated from the machine, which is
        # acceptable here: it only ever loads pages served on loopback by this
        # test's own daemons and by its own forging page.
        options.add_argument("--no-sandbox")
    # Network events, to see the page's live-update stream open and the answers' status codes.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    # The driver's log path names this run's temporary directory, where the script looks for leftovers.
    service = Service(executable_path=CHROMEDRIVER,
                      log_output=os.path.join(os.environ.get("TMPDIR", NODES), "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


@pytest.fixture(scope="session")
def browsers():
    """Makes browsers (chrome's arguments) and quits every one at the end."""
    made = []

    def make(javascript=True):
        driver = chrome(javascript)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()


def sign_in(driver, name):
    """Signs driver in to name's web app with a link from `kith open`; the app's address."""
    link = kith("open", "--home", home(name), "--no-browser")
    # The app's own host name (a secret of the node's, under .localhost) and a one-time token.
    assert re.fullmatch(r"http://[0-9a-f]{20}\.localhost:[0-9]+/login\?token=[0-9a-f]{64}", link), link
    base = "http://" + urlsplit(link).netloc
    network_events(driver)
    driver.get(link)
    # The login sets the cookie and moves on to the feed from its own page,
    # which drops the token from the address bar.
    WebDriverWait(driver, 30, poll_frequency=0.2).until(lambda d: d.current_url == base + "/", "the login did not move on to the feed")
    assert_at(driver, base + "/")
    assert heading(driver) == "Feed"
    return base


def assert_at(driver, url):
    """The browser shows url; when not, the message says what the page says."""
    assert driver.current_url == url, driver.find_element(By.TAG_NAME, "body").text


def heading(driver):
    return driver.find_element(By.TAG_NAME, "h1").text


def network_events(driver):
    """The network events since the last call: (method, params) pairs."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append((message["method"], message["params"]))
    return events


def answers(events):
    """(url, status) of every answer among events."""
    return [(params["response"]["url"], params["response"]["status"])
            for method, params in events if method == "Network.responseReceived"]


def is_events(url):
    """Whether url is the stream of server-sent events (/events?since=N)."""
    return urlsplit(url).path == "/events"


def wait_for_live_updates(driver, base):
    """Waits until the page's script has opened its stream of server-sent events."""
    WebDriverWait(driver, 30, poll_frequency=0.2).until(
        lambda d: any(is_events(url) and url.startswith(base + "/") and status == 200 for url, status in answers(network_events(d))),
        "the page did not open /events")


def field(driver, label):
    """The form field that the label with this text names."""
    for_id = driver.find_element(By.XPATH, f"//label[normalize-space()={literal(label)}]").get_attribute("for")
    return driver.find_element(By.ID, for_id)


def submit(element):
    """Clicks the submit button of element's form and waits until the answer has replaced the page:
    a click does not always wait for the navigation it starts."""
    element.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()
    WebDriverWait(element.parent, 30).until(lambda _: replaced(element), "the form's answer never replaced the page")


def replaced(element):
    """Whether element's page has gone. While the old page is being torn down, Chrome may answer
    with an inspector error instead of "stale element", so that counts as gone too."""
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise


def post_article(driver, text):
    """The post (an article) whose text contains text, or None."""
    found = driver.find_elements(By.XPATH, f"//article[contains(., {literal(text)})]")
    return found[0] if found else None


def thread_link(article):
    """The link from a post in the feed to its page with the comments."""
    return article.find_element(By.XPATH, ".//p[@class='thread']/a[contains(@href, '/posts/')]")


def literal(text):
    """text as an XPath string literal."""
    assert "'" not in text, text
    return f"'{text}'"


def mark_page(driver):
    """Marks the loaded page: the mark is gone if the page is ever loaded again."""
    driver.execute_script("window.kithTestMark = 'never reloaded';")


def page_was_not_reloaded(driver):
    return driver.execute_script("return window.kithTestMark;") == "never reloaded"


def screenshot(driver, name):
    driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png"))
