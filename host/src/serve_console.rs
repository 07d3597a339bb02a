//! The web console of `kri serve`: its own sources (`console/src`: HTML, script and
//! style) and the vendored browser builds of Chart.js and Cytoscape.js
//! (`console/vendor`), embedded in the binary at compile time as they are and served
//! at `/console/`. The page itself holds no data: it reads everything through
//! `/api/v1` with the API key the user types in, so these routes need no key.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

/// The console's own files, served as they are written.
static SOURCES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../console/src");

/// Chart.js and Cytoscape.js, refreshed from their pinned npm packages by
/// `make console` and committed, so that building kri needs no npm.
static VENDOR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../console/vendor");

/// The embedded file the console's page names `name`, from its sources or the
/// vendored libraries.
fn embedded(name: &str) -> Option<&'static include_dir::File<'static>> {
    SOURCES.get_file(name).or_else(|| VENDOR.get_file(name))
}

/// `/` and `/console` lead to the console; `/console/{file}` serves its assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/", get(index))
        .route("/console/{*file}", get(asset))
}

async fn to_console() -> Redirect {
    Redirect::to("/console/")
}

async fn index() -> Response {
    serve_file("index.html")
}

async fn asset(Path(file): Path<String>) -> Response {
    serve_file(&file)
}

fn serve_file(name: &str) -> Response {
    let Some(file) = embedded(name) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "code": "not_found",
                "message": format!("the console has no file `{name}`"),
                "hint": "open /console/",
            })),
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type(name)),
            // The assets change with the binary; the browser revalidates each load.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        file.contents(),
    )
        .into_response()
}

/// The media type of the few kinds of file the console is made of.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_page_and_its_libraries_are_embedded() {
        for name in [
            "index.html",
            "app.js",
            "app.css",
            "chart.umd.min.js",
            "cytoscape.min.js",
        ] {
            assert!(
                embedded(name).is_some(),
                "the console's {name} is not embedded"
            );
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.bin"), "application/octet-stream");
    }
}
