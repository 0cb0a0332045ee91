//! Authentication: every way in without valid credentials is a 401 that says nothing about
//! which part was wrong.

use eventflow_backend::auth::jwt::{self, Audience, Claims, Role};
use eventflow_backend::config::TokenPolicy;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_API_TOKEN, JWT_SECRET, TestApp, error_code, now_secs, read, token};

const UNAUTHORIZED: &str =
    r#"{"error":{"code":"unauthorized","message":"missing or invalid credentials"}}"#;

async fn ingest_with(app: &TestApp, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/events"))
        .json(&json!({"name": "x"}));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn missing_or_wrong_api_keys_get_the_same_401() {
    let app = TestApp::start().await;
    let unauthorized: Value = serde_json::from_str(UNAUTHORIZED).unwrap();
    // Right lookup part, wrong secret part; and the reverse.
    // `efk_<lookup>_<secret>`; the secret is URL-safe base64, which may itself hold `_`.
    let (lookup, secret) = app
        .api_key
        .strip_prefix("efk_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap();
    let wrong_secret = format!("efk_{lookup}_{}", "A".repeat(secret.len()));
    let wrong_lookup = format!("efk_0000000000000000_{secret}");
    for key in [
        None,
        Some(""),
        Some("nonsense"),
        Some(wrong_secret.as_str()),
        Some(wrong_lookup.as_str()),
    ] {
        assert_eq!(
            ingest_with(&app, key).await,
            (StatusCode::UNAUTHORIZED, unauthorized.clone()),
            "{key:?}"
        );
    }
    assert_eq!(
        ingest_with(&app, Some(&app.api_key)).await.0,
        StatusCode::ACCEPTED
    );
    // A bearer token is not an API key.
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(token(Role::Admin))
        .json(&json!({"name": "x"}));
    assert_eq!(
        read(response.send().await.unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.event_count().await, 1);
}

#[tokio::test]
async fn auth_comes_before_input_checks() {
    // An unauthenticated caller learns nothing from validation errors.
    let app = TestApp::start().await;
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, StatusCode::UNAUTHORIZED);
}

async fn get_with(app: &TestApp, path: &str, authorization: Option<String>) -> (StatusCode, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn reads_need_a_valid_bearer_token() {
    let app = TestApp::start().await;
    let claims = |exp: i64| Claims {
        iat: Some(exp - 600),
        nbf: None,
        exp,
        role: None,
        ..Claims::new("someone", Role::Viewer, &TokenPolicy::default(), 0, 0)
    };
    let now = now_secs();
    let sign = |claims: &Claims| jwt::sign(claims, JWT_SECRET.as_bytes());
    let wrong_issuer = sign(&Claims {
        iss: "elsewhere".into(),
        ..claims(now + 600)
    });
    let wrong_audience = sign(&Claims {
        aud: Audience::One("another-api".into()),
        ..claims(now + 600)
    });
    let too_long = sign(&Claims {
        iat: Some(now),
        exp: now + 13 * 3600,
        ..claims(now + 600)
    });
    let not_yet = sign(&Claims {
        nbf: Some(now + 3600),
        ..claims(now + 600)
    });
    let wrong_secret = jwt::sign(
        &claims(now_secs() + 600),
        b"some-other-secret-some-other-secret-012",
    );
    for path in ["/v1/events", "/v1/stats"] {
        for authorization in [
            None,
            Some("Bearer".to_owned()),
            Some("Bearer not.a.jwt".to_owned()),
            Some(format!("Basic {}", token(Role::Viewer))),
            Some(format!("Bearer {wrong_secret}")),
            Some(format!("Bearer {wrong_issuer}")),
            Some(format!("Bearer {wrong_audience}")),
            Some(format!("Bearer {too_long}")),
            Some(format!("Bearer {not_yet}")),
            Some(app.api_key.clone()),
        ] {
            let (status, body) = get_with(&app, path, authorization.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {authorization:?}");
            assert_eq!(error_code(&body), "unauthorized");
        }
        let expired = jwt::sign(&claims(now_secs() - 3600), JWT_SECRET.as_bytes());
        let (status, body) = get_with(&app, path, Some(format!("Bearer {expired}"))).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "token_expired")
        );

        let valid = jwt::sign(&claims(now_secs() + 600), JWT_SECRET.as_bytes());
        assert_eq!(
            get_with(&app, path, Some(format!("Bearer {valid}")))
                .await
                .0,
            StatusCode::OK,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_admin_api_takes_only_the_admin_token() {
    let app = TestApp::start().await;
    // Dashboard tokens, even with the admin role, are not the admin credential.
    for role in [Role::Viewer, Role::Admin] {
        let response = app
            .client
            .post(app.url("/v1/admin/api-keys"))
            .bearer_auth(token(role))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{role:?}"
        );
    }
    let almost = format!("{}x", &ADMIN_API_TOKEN[..ADMIN_API_TOKEN.len() - 1]);
    let response = app
        .client
        .delete(app.url("/v1/admin/events?user_id=u"))
        .bearer_auth(almost)
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .delete(app.url("/v1/admin/events?user_id=u"))
        .bearer_auth(ADMIN_API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(response).await,
        (StatusCode::OK, json!({"deleted": 0}))
    );
    let anonymous = app
        .client
        .delete(app.url("/v1/admin/events?user_id=u"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(anonymous).await.0, StatusCode::UNAUTHORIZED);
    let with_key = app
        .client
        .delete(app.url("/v1/admin/api-keys/1"))
        .header("x-api-key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(read(with_key).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_admin_api_is_off_without_its_token() {
    let app = TestApp::start_with(|state| state.with_admin_token(None)).await;
    for (method, path) in [
        (reqwest::Method::POST, "/v1/admin/api-keys"),
        (reqwest::Method::DELETE, "/v1/admin/api-keys/1"),
        (reqwest::Method::DELETE, "/v1/admin/events?user_id=u"),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .bearer_auth(ADMIN_API_TOKEN)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn api_keys_are_stored_only_as_hashes() {
    let app = TestApp::start().await;
    let (prefix, hash): (String, Vec<u8>) =
        sqlx::query_as("SELECT prefix, key_hash FROM api_keys WHERE id = $1")
            .bind(app.api_key_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(app.api_key.contains(&prefix));
    assert_eq!(hash.len(), 32);
    let stored: String = sqlx::query_scalar("SELECT row_to_json(k)::text FROM api_keys k")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // `efk_<lookup>_<secret>`: the secret is URL-safe base64, which may itself hold `_`.
    let (_, secret_part) = app
        .api_key
        .strip_prefix("efk_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap();
    assert_eq!(secret_part.len(), 43, "{}", app.api_key);
    assert!(!stored.contains(secret_part), "{stored}");
}
