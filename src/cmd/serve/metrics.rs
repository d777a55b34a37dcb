//! `/metrics`: Prometheus text exposition of what `ca serve` did and what it serves
//! (requests by route and status, OCSP answers by kind, latency, and per directory the
//! generation served, whether the newest state is served, the CRL's nextUpdate and the
//! responder certificate's notAfter).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::Slot;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

/// Counters, kept behind one mutex: a handful of increments per request.
#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    ocsp: BTreeMap<&'static str, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// One request answered on `route` with `status` after `took`.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        let Ok(mut m) = self.0.lock() else { return };
        *m.requests.entry((route, status)).or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                m.buckets[i] += 1;
            }
        }
        m.count += 1;
        m.sum += secs;
    }

    /// One OCSP answer of this kind (good, revoked, unknown, malformedRequest, …, cached).
    pub fn ocsp(&self, kind: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.ocsp.entry(kind).or_default() += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self, slots: &[Slot]) -> String {
        let mut out = String::new();
        if let Ok(m) = self.0.lock() {
            out.push_str("# TYPE fileca_http_requests_total counter\n");
            for ((route, status), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "fileca_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
            out.push_str("# TYPE fileca_ocsp_responses_total counter\n");
            for (kind, n) in &m.ocsp {
                let _ = writeln!(out, "fileca_ocsp_responses_total{{status=\"{kind}\"}} {n}");
            }
            out.push_str("# TYPE fileca_http_request_duration_seconds histogram\n");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "fileca_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                    m.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "fileca_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\nfileca_http_request_duration_seconds_sum {}\nfileca_http_request_duration_seconds_count {}",
                m.count, m.sum, m.count
            );
        }
        out.push_str("# TYPE fileca_state_current gauge\n# TYPE fileca_generation gauge\n# TYPE fileca_crl_next_update_timestamp_seconds gauge\n# TYPE fileca_ocsp_responder_not_after_timestamp_seconds gauge\n");
        for slot in slots {
            let dir = label(&slot.dir.display().to_string());
            let current = u8::from(slot.served.is_some() && slot.problem.is_none());
            let _ = writeln!(out, "fileca_state_current{{dir=\"{dir}\"}} {current}");
            if let Some(s) = &slot.served {
                let _ = writeln!(out, "fileca_generation{{dir=\"{dir}\"}} {}", s.generation);
                if let Some(next) = s.crl.as_ref().and_then(|c| c.next_update) {
                    let _ = writeln!(
                        out,
                        "fileca_crl_next_update_timestamp_seconds{{dir=\"{dir}\"}} {}",
                        next.unix_timestamp()
                    );
                }
                if let Some(r) = &s.responder {
                    let _ = writeln!(
                        out,
                        "fileca_ocsp_responder_not_after_timestamp_seconds{{dir=\"{dir}\"}} {}",
                        r.not_after.unix_timestamp()
                    );
                }
            }
        }
        out
    }
}

/// A label value: backslash, quote and newline escaped (the exposition format's rules), and
/// nothing that is not printable.
fn label(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '\\' => vec!['\\', '\\'],
            '"' => vec!['\\', '"'],
            '\n' => vec!['\\', 'n'],
            c if c.is_control() => vec!['?'],
            c => vec![c],
        })
        .collect()
}

/// `/healthz`: healthy when every DIR serves its newest state and, where it has an OCSP URL, a
/// responder that has not expired; the text says per DIR what is served and why not.
pub fn health(slots: &[Slot], now: time::OffsetDateTime) -> (bool, String) {
    let mut text = String::new();
    let mut ok = true;
    for slot in slots.iter() {
        let dir = crate::term::escape(&slot.dir.display().to_string());
        let responder_ok = |s: &super::load::Served| {
            s.routes.ocsp.is_empty() || s.responder.as_ref().is_some_and(|r| r.not_after > now)
        };
        match (&slot.served, &slot.problem) {
            // A DIR with an OCSP URL whose responder is expired (or absent) answers every OCSP
            // request tryLater: unhealthy (review finding: /healthz said 200).
            (Some(s), None) if !responder_ok(s) => {
                ok = false;
                text.push_str(&format!(
                    "{dir}: generation {}: no valid OCSP responder (ca ocsp-responder renew)\n",
                    s.generation
                ));
            }
            (Some(s), None) => text.push_str(&format!("{dir}: generation {}\n", s.generation)),
            (served, problem) => {
                ok = false;
                let serving = served.as_ref().map_or("nothing".to_string(), |s| {
                    format!("generation {}", s.generation)
                });
                let why = crate::term::escape(problem.as_deref().unwrap_or("not loaded yet"));
                text.push_str(&format!("{dir}: serving {serving}: {why}\n"));
            }
        }
    }
    (ok, text)
}
