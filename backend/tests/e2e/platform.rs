//! What the load balancer and a browser see: `/health` and the dashboard.

use reqwest::StatusCode;

use crate::support::{Config, client, send};

#[tokio::test]
async fn health_is_ok_with_the_expected_build() {
    let config = Config::from_env();
    let (status, health) = send(client().get(format!("{}/health", config.base_url))).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");
    assert!(
        health["migration_version"].as_i64().is_some_and(|v| v > 0),
        "{health}"
    );
    assert!(
        health["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{health}"
    );
    if let Some(expected) = &config.expected_git_sha {
        assert_eq!(
            health["git_sha"],
            expected.as_str(),
            "the deployment runs another build"
        );
    }
}

#[tokio::test]
async fn the_dashboard_is_served() {
    let config = Config::from_env();
    if !config.expect_dashboard {
        eprintln!(
            "EVENTFLOW_EXPECT_DASHBOARD is not 1: this environment serves no dashboard, nothing to check"
        );
        return;
    }
    let response = client()
        .get(format!("{}/", config.base_url))
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "content-type {content_type}"
    );
    let html = response.text().await.unwrap().to_ascii_lowercase();
    assert!(
        html.contains("<html") && html.contains("<script"),
        "not the dashboard's page:\n{html}"
    );
}
