//! The request count and latency histogram of each route, with their metric handles
//! looked up once per worker thread and route rather than per request.
//!
//! `metrics::counter!` with labels builds the labels (strings) and looks the series up in
//! the recorder's registry (a hash of the name and labels, a lock) on every call. The
//! handles it returns stay valid for the process's life, so each actix worker keeps the
//! ones it used in a small map keyed by method and route pattern (and status): a request
//! of a route seen before costs a map lookup and two atomic updates. Methods and route
//! patterns are finite (unknown paths share `unmatched`), but a client can send any
//! method: past [`MAX_ROUTES`] entries the handles are looked up each time instead of
//! being kept, which is what every request did before.

use std::cell::RefCell;
use std::collections::HashMap;

use actix_web::http::Method;
use metrics::{Counter, Histogram};

/// The (method, route) entries a worker keeps at most.
pub const MAX_ROUTES: usize = 1024;
/// The statuses kept per route at most (a route answers a handful).
const MAX_STATUSES: usize = 32;

/// The label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// One route's handles.
struct RouteHandles {
    duration: Histogram,
    /// By status, in the order first seen.
    requests: Vec<(u16, Counter)>,
}

impl RouteHandles {
    fn new(method: &Method, route: &str) -> Self {
        Self {
            duration: duration_histogram(method, route),
            requests: Vec::new(),
        }
    }

    fn requests(&mut self, method: &Method, route: &str, status: u16) -> Counter {
        if let Some((_, counter)) = self.requests.iter().find(|(seen, _)| *seen == status) {
            return counter.clone();
        }
        let counter = requests_counter(method, route, status);
        if self.requests.len() < MAX_STATUSES {
            self.requests.push((status, counter.clone()));
        }
        counter
    }
}

thread_local! {
    static HANDLES: RefCell<HashMap<(Method, String), RouteHandles>> = RefCell::new(HashMap::new());
}

/// Counts a request of `method` on `route` (its pattern, or [`UNMATCHED`]) answered
/// `status` after `seconds`.
pub fn record(method: &Method, route: String, status: u16, seconds: f64) {
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        let key = (method.clone(), route);
        if let Some(route_handles) = handles.get_mut(&key) {
            route_handles.requests(method, &key.1, status).increment(1);
            route_handles.duration.record(seconds);
            return;
        }
        let mut route_handles = RouteHandles::new(method, &key.1);
        route_handles.requests(method, &key.1, status).increment(1);
        route_handles.duration.record(seconds);
        if handles.len() < MAX_ROUTES {
            handles.insert(key, route_handles);
        }
    });
}

fn requests_counter(method: &Method, route: &str, status: u16) -> Counter {
    metrics::counter!(
        "talkapp_http_requests_total",
        "method" => method.as_str().to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
}

fn duration_histogram(method: &Method, route: &str) -> Histogram {
    metrics::histogram!(
        "talkapp_http_request_duration_seconds",
        "method" => method.as_str().to_owned(),
        "route" => route.to_owned()
    )
}

/// The (method, route) entries this thread keeps (for the tests).
#[cfg(test)]
fn kept_routes() -> usize {
    HANDLES.with(|handles| handles.borrow().len())
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

    use super::*;

    /// The request series `handle` renders, sorted (the histogram by its count).
    fn series(handle: &PrometheusHandle) -> Vec<String> {
        let mut lines: Vec<String> = handle
            .render()
            .lines()
            .filter(|line| {
                line.starts_with("talkapp_http_requests_total")
                    || line.starts_with("talkapp_http_request_duration_seconds_count")
            })
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    /// Runs `record` on a thread of its own (the handles are kept per thread, so it starts
    /// with none) with `recorder` as its recorder.
    fn on_own_thread(recorder: PrometheusRecorder, record: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || metrics::with_local_recorder(&recorder, record))
            .join()
            .expect("recorded");
    }

    #[test]
    fn each_request_lands_on_its_routes_and_statuses_series() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        on_own_thread(recorder, || {
            record(&Method::GET, "/auth/me".to_owned(), 200, 0.001);
            record(&Method::GET, "/auth/me".to_owned(), 200, 0.002);
            record(&Method::GET, "/auth/me".to_owned(), 401, 0.001);
            record(&Method::POST, "/auth/me".to_owned(), 405, 0.001);
            record(
                &Method::GET,
                "/me/sessions/{user_id}".to_owned(),
                200,
                0.003,
            );
            record(&Method::GET, UNMATCHED.to_owned(), 404, 0.001);
            assert_eq!(kept_routes(), 4);
        });
        assert_eq!(
            series(&handle),
            [
                r#"talkapp_http_request_duration_seconds_count{method="GET",route="/auth/me"} 3"#,
                r#"talkapp_http_request_duration_seconds_count{method="GET",route="/me/sessions/{user_id}"} 1"#,
                r#"talkapp_http_request_duration_seconds_count{method="GET",route="unmatched"} 1"#,
                r#"talkapp_http_request_duration_seconds_count{method="POST",route="/auth/me"} 1"#,
                r#"talkapp_http_requests_total{method="GET",route="/auth/me",status="200"} 2"#,
                r#"talkapp_http_requests_total{method="GET",route="/auth/me",status="401"} 1"#,
                r#"talkapp_http_requests_total{method="GET",route="/me/sessions/{user_id}",status="200"} 1"#,
                r#"talkapp_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
                r#"talkapp_http_requests_total{method="POST",route="/auth/me",status="405"} 1"#,
            ]
        );
    }

    #[test]
    fn past_the_bound_requests_are_still_counted_but_not_kept() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        on_own_thread(recorder, || {
            let method = |index: usize| {
                Method::from_bytes(format!("M{index}").as_bytes()).expect("a method")
            };
            for index in 0..=MAX_ROUTES {
                record(&method(index), "/x".to_owned(), 200, 0.001);
            }
            record(&method(MAX_ROUTES), "/x".to_owned(), 200, 0.001);
            assert_eq!(kept_routes(), MAX_ROUTES);
        });
        let beyond = format!(
            r#"talkapp_http_requests_total{{method="M{MAX_ROUTES}",route="/x",status="200"}} 2"#
        );
        assert!(
            series(&handle).contains(&beyond),
            "the requests beyond the bound are counted"
        );
    }
}
