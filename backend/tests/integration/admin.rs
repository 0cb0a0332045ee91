//! The admin API: API keys created and deleted, a user's events deleted.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_API_TOKEN, TestApp, error_code, read};

async fn as_admin(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    read(request.bearer_auth(ADMIN_API_TOKEN).send().await.unwrap()).await
}

#[tokio::test]
async fn a_created_key_ingests_until_it_is_deleted() {
    let app = TestApp::start().await;
    let (status, created) = as_admin(
        app.client
            .post(app.url("/v1/admin/api-keys"))
            .json(&json!({"name": "android"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "android");
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();

    let send = |key: String| {
        let request = app
            .client
            .post(app.url("/v1/events"))
            .header("x-api-key", key)
            .json(&json!({"name": "x"}));
        async move { read(request.send().await.unwrap()).await.0 }
    };
    assert_eq!(send(key.clone()).await, StatusCode::ACCEPTED);

    let path = format!("/v1/admin/api-keys/{id}");
    assert_eq!(
        as_admin(app.client.delete(app.url(&path))).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(send(key).await, StatusCode::UNAUTHORIZED);
    // Deleting it again, or a key that never was, is a 404.
    let (status, body) = as_admin(app.client.delete(app.url(&path))).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, _) = as_admin(
        app.client
            .delete(app.url("/v1/admin/api-keys/not-a-number")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The events the key sent stay.
    assert_eq!(app.event_count().await, 1);
}

#[tokio::test]
async fn key_names_are_validated() {
    let app = TestApp::start().await;
    for (body, code) in [
        (json!({}), "missing_field"),
        (json!({"name": ""}), "invalid_field"),
        (json!({"name": "x".repeat(201)}), "invalid_field"),
        (json!({"name": "x", "role": "admin"}), "unknown_field"),
    ] {
        let (status, response) =
            as_admin(app.client.post(app.url("/v1/admin/api-keys")).json(&body)).await;
        assert_eq!(
            (status, error_code(&response)),
            (StatusCode::UNPROCESSABLE_ENTITY, code),
            "{body}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "only the test's own key");
}

#[tokio::test]
async fn deleting_a_users_events_leaves_the_others() {
    let app = TestApp::start().await;
    let events = json!({"events": [
        {"name": "a", "user_id": "gone"},
        {"name": "b", "user_id": "gone"},
        {"name": "c", "user_id": "stays"},
        {"name": "d"},
    ]});
    app.ingest(&events).await;
    let delete = |query: &str| {
        app.client
            .delete(app.url(&format!("/v1/admin/events{query}")))
    };
    assert_eq!(
        as_admin(delete("?user_id=gone")).await,
        (StatusCode::OK, json!({"deleted": 2}))
    );
    assert_eq!(
        as_admin(delete("?user_id=gone")).await,
        (StatusCode::OK, json!({"deleted": 0}))
    );
    assert_eq!(app.event_count().await, 2);
    // Without a user id nothing is deleted.
    for query in ["", "?user_id="] {
        let (status, body) = as_admin(delete(query)).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{query}"
        );
    }
    assert_eq!(app.event_count().await, 2);
}
