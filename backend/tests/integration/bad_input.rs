//! Bad input: each case is a 4xx with the API's error shape naming the field, and nothing
//! is stored.

use eventflow_backend::routes::BODY_LIMIT_BYTES;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code, read};

async fn post_raw(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let request = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &app.api_key)
        .header("content-type", content_type)
        .body(body);
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn each_bad_event_is_refused_naming_the_field() {
    let app = TestApp::start().await;
    let batch = |n: usize| json!({"events": vec![json!({"name": "x"}); n]});
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"name": 5}), "invalid_field", "name"),
        (json!({"name": ""}), "invalid_field", "name"),
        (json!({"name": "n".repeat(201)}), "invalid_field", "name"),
        (json!({"name": "nul\u{0}"}), "invalid_field", "name"),
        (json!({"user_id": "u"}), "missing_field", "name"),
        (
            json!({"name": "x", "extra": true}),
            "unknown_field",
            "extra",
        ),
        (
            json!({"name": "x", "timestamp": "2025-02-30T00:00:00Z"}),
            "invalid_field",
            "timestamp",
        ),
        (
            json!({"name": "x", "timestamp": "1 May 2025"}),
            "invalid_field",
            "timestamp",
        ),
        (
            json!({"name": "x", "timestamp": 1746057600}),
            "invalid_field",
            "timestamp",
        ),
        (
            json!({"name": "x", "user_id": ["u"]}),
            "invalid_field",
            "user_id",
        ),
        (
            json!({"name": "x", "properties": "{}"}),
            "invalid_field",
            "properties",
        ),
        (
            json!({"name": "x", "properties": {"big": "p".repeat(32 * 1024)}}),
            "invalid_field",
            "properties",
        ),
        (
            json!({"name": "x", "properties": {"s": "\u{0}"}}),
            "invalid_field",
            "properties",
        ),
        (json!([{"name": "x"}]), "invalid_field", "body"),
        (json!({"events": []}), "invalid_field", "events"),
        (batch(1001), "invalid_field", "events"),
        (
            json!({"events": [{"name": "x"}, {"name": "x", "nmae": "y"}]}),
            "unknown_field",
            "events[1].nmae",
        ),
        (
            json!({"events": [{"name": "x"}], "name": "y"}),
            "unknown_field",
            "name",
        ),
    ];
    for (body, code, field) in cases {
        let (status, response) = app.ingest(&body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{response}");
        assert_eq!(error_code(&response), code, "{response}");
        assert_eq!(response["error"]["field"], field, "{response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains(field),
            "{response}"
        );
    }
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::start().await;
    for body in [
        "",
        "{",
        r#"{"name": "x",}"#,
        "not json",
        r#"{"name": "x"} trailing"#,
    ] {
        let (status, response) = post_raw(&app, "application/json", body).await;
        assert_eq!(
            (status, error_code(&response)),
            (StatusCode::BAD_REQUEST, "malformed_json"),
            "{body:?}"
        );
    }
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let app = TestApp::start().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let (status, response) = post_raw(&app, content_type, r#"{"name": "x"}"#).await;
        assert_eq!(
            (status, error_code(&response)),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        );
    }
    let (status, _) = post_raw(&app, "application/json; charset=utf-8", r#"{"name": "x"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn an_oversize_body_is_413() {
    let app = TestApp::start().await;
    // Valid JSON, so only its size is wrong.
    let filler = "f".repeat(BODY_LIMIT_BYTES);
    let body = format!(r#"{{"name": "x", "properties": {{"filler": "{filler}"}}}}"#);
    let (status, response) = post_raw(&app, "application/json", body).await;
    assert_eq!(
        (status, error_code(&response)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::start().await;
    let (status, body) = read(app.client.get(app.url("/v1/nothing")).send().await.unwrap()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = read(app.client.put(app.url("/v1/events")).send().await.unwrap()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
