//! Headless Chromium driven over `WebDriver` (Debian's chromium and chromedriver, installed
//! by scripts/setup.sh), for the web inbox tests.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::util::{CHROMIUM_FLAGS, root, tool};

/// How long a condition may take to come true in the page.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless browser with an empty profile, 1280x900.
    pub async fn start() -> Self {
        let mut driver = Command::new(tool("chromedriver"))
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, with the browser it starts: see `Drop`.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let port = driver_port(&mut driver).await;
        let profile = tempfile::tempdir().unwrap();
        let args = ["--headless=new", "--window-size=1280,900"]
            .iter()
            .chain(&CHROMIUM_FLAGS)
            .map(|a| (*a).to_owned())
            .chain([format!("--user-data-dir={}", profile.path().display())])
            .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": tool("chromium"), "args": args}),
        );
        // Plain HTTP to chromedriver on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The value of a JavaScript expression in the current frame.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("`{expression}`: {e}"))
    }

    /// Waits (bounded) until the expression is true; panics naming it otherwise.
    pub async fn until(&self, expression: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still false after {PATIENCE:?}: {expression}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Steps into the open message's sandboxed HTML frame once it has loaded; the caller
    /// leaves with `client.enter_parent_frame()`.
    pub async fn enter_html_frame(&self) {
        self.until("document.getElementById('html-frame') !== null")
            .await;
        self.client.enter_frame(0).await.unwrap();
        self.until("document.readyState === 'complete' && document.body !== null")
            .await;
    }

    /// The text of the rows in the inbox list, top (newest) first.
    pub async fn rows(&self) -> Vec<String> {
        let rows = self
            .eval("[...document.querySelectorAll('#rows tr')].map(r => r.innerText)")
            .await;
        serde_json::from_value(rows).unwrap()
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.text().await.unwrap()
    }

    pub async fn click(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.click().await.unwrap();
    }

    /// Types into the page as a user would (keys go to the focused element, else the body).
    pub async fn keys(&self, keys: &str) {
        let element = self.client.active_element().await.unwrap();
        element.send_keys(keys).await.unwrap();
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        path
    }
}

impl Drop for Browser {
    /// Killing chromedriver alone leaves its Chromium running, and leaked browsers pile up
    /// until the machine runs out of inotify instances (other tests then fail); so the
    /// session is ended here, also when a test panics.
    fn drop(&mut self) {
        // Ending the session makes chromedriver quit its browser (whose processes put
        // themselves in groups of their own); the group kill covers chromedriver itself.
        let client = self.client.clone();
        let _ = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            })
        });
        if let Some(pid) = self.driver.id() {
            crate::util::signal(pid, "KILL", true);
        }
    }
}

/// The port chromedriver chose, from its "started successfully on port N." line.
async fn driver_port(driver: &mut Child) -> u16 {
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let (true, Some(rest)) = (
                line.contains("started successfully"),
                line.split("on port ").nth(1),
            ) {
                return rest.trim_end_matches('.').parse().unwrap();
            }
        }
        panic!("chromedriver exited before it listened");
    };
    let port = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("chromedriver starts listening");
    // Keep reading so a full pipe never blocks it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    port
}
