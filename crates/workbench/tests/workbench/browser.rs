//! Headless Chromium through chromedriver (the distribution's packages), driven over WebDriver
//! with fantoccini; axe-core (vendored) checks each page; screenshots go to
//! target/workbench-screenshots. Without a browser the tests say they were skipped, unless
//! BARS_REQUIRE_BROWSER=1 (as CI sets), when they fail.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// chromedriver runs in a process group of its own, with the Chromium it starts: a test that
/// fails before closing its session still leaves no browser behind.
impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A fresh headless Chromium, or `None` (the test then says it was skipped) when it is not
/// installed and BARS_REQUIRE_BROWSER is not set.
pub async fn start() -> Option<Browser> {
    start_with(true).await
}

/// A fresh headless Chromium with JavaScript on or off.
pub async fn start_with(javascript: bool) -> Option<Browser> {
    let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = on_path(&["chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        if std::env::var("BARS_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "BARS_REQUIRE_BROWSER=1 but chromium and chromedriver are not both installed (apt-get install -y chromium chromium-driver)"
            );
        }
        eprintln!(
            "skipped: no chromium/chromedriver on PATH (set BARS_REQUIRE_BROWSER=1 to fail instead)"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(driver)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver did not start");
    let profile = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.path().display()),
        "--window-size=1280,1000".into(),
    ];
    if !javascript {
        args.push("--blink-settings=scriptEnabled=false".into());
    }
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities.clone());
        match builder.connect(&url).await {
            Ok(client) => {
                return Some(Browser {
                    client,
                    driver,
                    _profile: profile,
                });
            }
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no WebDriver session: {last:?}");
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let source = self.client.source().await.unwrap_or_default();
                let url = self.url().await;
                panic!("no {css} on {url}: {e}\n{source}")
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn body(&self) -> String {
        self.text("body").await
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Clicks and waits for the next page (the address changes, or the same page loads again).
    pub async fn click_to_next_page(&self, css: &str) {
        let element = self.find(css).await;
        self.client
            .execute("document.documentElement.dataset.leaving = '1';", vec![])
            .await
            .unwrap();
        element.click().await.unwrap();
        self.client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("html:not([data-leaving]) body"))
            .await
            .unwrap_or_else(|e| panic!("clicking {css} led nowhere: {e}"));
    }

    /// Presses a key in the focused element and waits for the next page.
    pub async fn press_to_next_page(&self, key: &str) {
        self.client
            .execute("document.documentElement.dataset.leaving = '1';", vec![])
            .await
            .unwrap();
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(key).await.unwrap();
        self.client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("html:not([data-leaving]) body"))
            .await
            .unwrap_or_else(|e| panic!("the key led nowhere: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// axe-core over the whole page; panics on any serious or critical violation.
    pub async fn check_accessibility(&self, page: &str) {
        self.client.execute(AXE, vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ["violations"] })
                     .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")) }))))
                     .catch(e => done([{ id: "axe-error", impact: "critical", help: String(e), nodes: [] }]));"#,
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<&Value> = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(serious.is_empty(), "accessibility on {page}: {serious:#?}");
    }

    /// Saves a PNG of the viewport as target/workbench-screenshots/<name>.png.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/workbench-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
