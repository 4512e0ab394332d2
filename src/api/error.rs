//! The one error type of the HTTP API: a status and a `{"detail": ...}` body a user can act on.
//!
//! Every failure path ends here: validation, the coordinator's errors, and axum's own
//! rejections (bad path, query or body; body too large), so no response is ever plain text or
//! HTML. Internal causes are logged where they happen; the detail says what the user can do.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::coordinator::CoordError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, in words a user can act on.
    pub detail: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    pub fn too_large(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                detail: self.detail,
            }),
        )
            .into_response()
    }
}

impl From<CoordError> for ApiError {
    fn from(e: CoordError) -> ApiError {
        let status = match &e {
            CoordError::Quorum { .. } | CoordError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CoordError::NotFound(_) => StatusCode::NOT_FOUND,
            CoordError::Precondition(_) => StatusCode::PRECONDITION_FAILED,
            CoordError::Conflict(_) => StatusCode::CONFLICT,
            CoordError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CoordError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CoordError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CoordError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        let detail = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is too large (see max_value_bytes)".to_string()
        } else {
            format!("could not read the request body: {}", r.body_text())
        };
        ApiError::new(r.status(), detail)
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(format!("invalid path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("invalid query string: {}", r.body_text()))
    }
}

/// Answer for routes that do not exist.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// Answer for a known route called with the wrong method.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}
