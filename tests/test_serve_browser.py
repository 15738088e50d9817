"""serve's page in a real browser: Debian's Chromium, headless, driven by Selenium through Debian's chromedriver.

Loads the page, uploads a test image and compares the top-1 class shown with `predict`'s, sees the
heatmap appear, uploads a file that is not an image and sees the server's error line, then draws a
random test image. Needs the apt packages chromium and chromium-driver (`.ci/run` installs them when
/usr/bin/chromium is missing): skipped without them, except in CI (CI=true), where that fails.
"""

import base64
import os
import shutil

import pytest
from test_serve import classify, start_server, trained  # noqa: F401  (trained: a module fixture)

from keras_cnn.predict import predict

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Without the network flags Chromium's background connections are refused one by one on this closed network.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,1000")
WAIT = 30  # seconds for anything the page shows
DROP = """
const [data, name] = arguments;
const file = new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, {type: "image/png"});
const transfer = new DataTransfer();
transfer.items.add(file);
document.getElementById("drop").dispatchEvent(\
new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
"""


def chromium(user_data_dir):
    """A headless Chromium with a fresh profile in `user_data_dir`, or a skip (a failure in CI) without one."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = f"{CHROMIUM} or chromedriver is missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: use the given browser and driver, fetch nothing
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def test_the_page_in_chromium(trained, browser, tmp_path):  # noqa: F811  (the fixture imported above)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT)
    with start_server("--run", str(trained["run"]), "--data-dir", str(trained["data"]),
                      cwd=trained["root"]) as (url, _):
        browser.get(url)
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        summary = browser.find_element(By.ID, "summary").text
        assert "variant bn" in summary and "final test accuracy" in summary

        image = trained["images"][-1]  # 96x72: resized for the network, enlarged for the heatmap
        [expected] = predict(str(trained["export"]), [str(image)], top_k=5)
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(lambda b: b.find_element(By.ID, "predictions").get_attribute("data-top1"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#predictions .row")
        shown = [row.find_element(By.CLASS_NAME, "cls").text for row in rows]
        assert shown == [p["class"] for p in expected["predictions"]]  # the top 5, top-1 first
        assert (rows[0].find_element(By.CLASS_NAME, "prob").text
                == f"{100 * expected['predictions'][0]['probability']:.1f}%")
        heatmap = browser.find_element(By.ID, "heatmap")
        wait.until(lambda b: heatmap.is_displayed() and b.execute_script(
            "const i = document.getElementById('heatmap'); return i.complete && i.naturalWidth > 0"))
        assert heatmap.get_attribute("src").startswith("data:image/png;base64,")
        assert browser.find_element(By.ID, "error").text == ""

        bad = tmp_path / "notes.png"
        bad.write_text("not an image")
        browser.find_element(By.ID, "file").send_keys(str(bad))
        wait.until(lambda b: b.find_element(By.ID, "error").text)
        _, answer = classify(url, bad.name, bad.read_bytes())
        assert browser.find_element(By.ID, "error").text == answer["error"]  # the server's line, as it said it
        assert browser.find_elements(By.CSS_SELECTOR, "#predictions .row") == []

        dropped = trained["images"][0]  # drag-and-drop: a drop event carrying the file, as a browser fires it
        [expected] = predict(str(trained["export"]), [str(dropped)], top_k=1)
        browser.execute_script(DROP, base64.b64encode(dropped.read_bytes()).decode(), dropped.name)
        wait.until(lambda b: b.find_element(By.ID, "predictions").get_attribute("data-top1"))
        assert (browser.find_element(By.ID, "predictions").get_attribute("data-top1")
                == expected["predictions"][0]["class"])
        assert (browser.find_element(By.ID, "error").text == ""
                and browser.find_element(By.ID, "file-name").text == dropped.name)

        browser.execute_script("document.getElementById('predictions').removeAttribute('data-top1')")
        browser.find_element(By.ID, "random").click()
        wait.until(lambda b: b.find_element(By.ID, "predictions").get_attribute("data-top1"))
        assert browser.find_element(By.ID, "error").text == ""
        drawn = trained["data"] / browser.find_element(By.ID, "file-name").text  # e.g. test/class3/0001.png
        [expected] = predict(str(trained["export"]), [str(drawn)], top_k=1)
        assert (browser.find_element(By.ID, "predictions").get_attribute("data-top1")
                == expected["predictions"][0]["class"])
