//! What must be refused: bad input (storing nothing), bad keys, missing tokens.

use eventflow_backend::auth::jwt::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Run, send};

#[tokio::test]
async fn bad_input_is_refused_and_stores_nothing() {
    let run = Run::start().await;
    let name = run.event_name("refused");
    let good = json!({"name": name, "user_id": run.user_id});
    let cases = [
        (
            json!({"events": [good, good, {"name": "", "user_id": run.user_id}]}),
            422,
            "invalid_field",
        ),
        (
            json!({"name": name, "user_id": run.user_id, "colour": "red"}),
            422,
            "unknown_field",
        ),
        (
            json!({"name": name, "user_id": run.user_id, "timestamp": "tomorrow"}),
            422,
            "invalid_field",
        ),
        (json!({"name": 42}), 422, "invalid_field"),
        (
            json!({"events": vec![good.clone(); 1001]}),
            422,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let (got, response) = run.ingest(&body).await;
        assert_eq!(
            (got.as_u16(), response["error"]["code"].as_str()),
            (status, Some(code)),
            "{response}"
        );
    }
    let raw = |body: String| {
        run.client
            .post(run.url("/v1/events"))
            .header("x-api-key", &run.key)
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, response) = send(raw("{\"name\": ".to_owned())).await;
    assert_eq!(
        (status, response["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let oversize = format!(
        r#"{{"name": "{name}", "properties": {{"x": "{}"}}}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let (status, _) = send(raw(oversize)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(run.events_named(&name, 50).await, Vec::<Value>::new());
}

#[tokio::test]
async fn bad_api_keys_are_refused_alike() {
    let run = Run::start().await;
    let name = run.event_name("unauthorized");
    let event = json!({"name": name, "user_id": run.user_id});

    // A key that existed: create it, delete it, then try it.
    let admin = run.config.admin_token();
    let (_, created) = send(
        run.client
            .post(run.url("/v1/admin/api-keys"))
            .bearer_auth(admin)
            .json(&json!({"name": format!("e2e-{}-revoked", run.id)})),
    )
    .await;
    let revoked = created["key"].as_str().unwrap().to_owned();
    let path = format!("/v1/admin/api-keys/{}", created["id"].as_str().unwrap());
    assert_eq!(
        send(run.client.delete(run.url(&path)).bearer_auth(admin))
            .await
            .0,
        StatusCode::NO_CONTENT
    );

    // `efk_<lookup>_<secret>`; the secret is URL-safe base64, which may itself hold `_`.
    let (lookup, secret) = run
        .key
        .strip_prefix("efk_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap();
    let tampered = format!("efk_{lookup}_{}", "B".repeat(secret.len()));
    let mut answers = Vec::new();
    for key in [
        None,
        Some("wrong"),
        Some(tampered.as_str()),
        Some(revoked.as_str()),
    ] {
        let mut request = run.client.post(run.url("/v1/events")).json(&event);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        answers.push(body);
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "401s must not differ: {answers:?}"
    );
    assert_eq!(run.events_named(&name, 50).await, Vec::<Value>::new());
}

#[tokio::test]
async fn reads_need_a_valid_token() {
    let run = Run::start().await;
    for path in ["/v1/events", "/v1/stats"] {
        let (status, body) = send(run.client.get(run.url(path))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let (status, _) = send(run.client.get(run.url(path)).bearer_auth("not-a-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = send(run.client.get(run.url(path)).header("x-api-key", &run.key)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "an API key does not read");
    }
    // Dashboard tokens, even with the admin role, don't open the admin API.
    for role in [Role::Viewer, Role::Admin] {
        let (status, _) = send(
            run.client
                .post(run.url("/v1/admin/api-keys"))
                .bearer_auth(run.config.token(role))
                .json(&json!({"name": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{role:?}");
    }
}
