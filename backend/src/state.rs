//! What every handler shares. Each field is a cheap handle, so cloning per request is free.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Secret;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub jwt_secret: Secret,
    pub api_keys_secret: Secret,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(pool: PgPool, jwt_secret: Secret, api_keys_secret: Secret) -> Self {
        Self {
            pool,
            jwt_secret,
            api_keys_secret,
            metrics: Arc::new(Metrics::new()),
        }
    }
}
