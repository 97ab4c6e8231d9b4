//! A key rotation, simulated in-process and drawn to `docs/rotation.svg`.
//!
//! ```text
//! cargo run --release --example rotation_plot
//! ```
//!
//! One verifier (a `KeyRing` on a `ManualClock`, behind a `JwtLayer`) and a
//! few hundred clients, stepped one simulated minute at a time:
//!
//! - minute 0: the Secret update reaches the replica, `ring.rotate(new key)`:
//!   the old key becomes previous;
//! - minute 5: the signer switches to the new key; each client keeps its
//!   old-key token until that expires (tokens live 15, 30 or 60 minutes), then
//!   fetches a new-key token;
//! - every minute: the clients due make their requests (through the real
//!   layer, with `tower::ServiceExt::oneshot`), then `ring.check_retirement().await`
//!   runs, as the auto-retire task would, until it retires the old key.
//!
//! Each minute it samples the real metrics from the registry
//! (`jwt_verifications_total` by slot, `jwt_previous_key_live_tokens`) and
//! `ring.status()` (the retirement blockers), prints a summary and plots
//! previous-key verifications per minute and live previous-key tokens.
//! Everything is deterministic: the same run draws the same picture.

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header};
use jwt_rollover::{
    Algorithm, JwtLayer, Key, KeyRing, KeySet, ManualClock, Metrics, RetirePolicy, Verified,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use prometheus::Registry;
use prometheus::proto::MetricType;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const OUTPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rotation.svg");

/// Unix time of minute 0, the rotation.
const T0: u64 = 1_800_000_000;
const FIRST_MINUTE: i64 = -20;
const LAST_MINUTE: i64 = 110;
const SIGNER_SWITCH_MINUTE: i64 = 5;
const CLIENTS: usize = 300;
const TOKEN_LIFETIMES_MINUTES: [u64; 3] = [15, 30, 60];
/// At least the longest token lifetime plus the leeway (61 min), plus the
/// time between the Secret update and the signer switch (5 min), plus margin.
const MIN_AGE: Duration = Duration::from_secs(75 * 60);
const QUIET: Duration = Duration::from_secs(10 * 60);

const OLD: Signer = Signer {
    kid: "2026-10",
    secret: b"old-signing-secret-old-signing-secret!!",
};
const NEW: Signer = Signer {
    kid: "2026-11",
    secret: b"new-signing-secret-new-signing-secret!!",
};

struct Signer {
    kid: &'static str,
    secret: &'static [u8],
}

impl Signer {
    fn key(&self) -> Result<Key, Box<dyn Error>> {
        Ok(Key::hmac(Some(self.kid), Algorithm::HS256, self.secret)?)
    }

    /// A token for `client`, issued at `iat`: returns it and its `exp`.
    fn sign(
        &self,
        client: usize,
        iat: u64,
        lifetime: u64,
    ) -> Result<(String, u64), Box<dyn Error>> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.to_owned());
        let exp = iat + lifetime;
        let claims = json!({"sub": format!("client-{client}"), "iat": iat, "exp": exp});
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(self.secret))?;
        Ok((token, exp))
    }
}

struct Client {
    id: usize,
    /// Token lifetime, seconds.
    lifetime: u64,
    /// Minutes between two requests.
    every: i64,
    next_call: i64,
    token: String,
    exp: u64,
}

/// What one simulated minute looked like.
struct Sample {
    minute: i64,
    previous_per_minute: f64,
    current_per_minute: f64,
    live_tokens: f64,
    /// Retirement blockers, as the admin status names them, and the minute each clears.
    blockers: Vec<(String, i64)>,
}

/// SplitMix64: a deterministic, dependency-free source of variety.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn unix(minute: i64) -> u64 {
    T0.checked_add_signed(minute * 60)
        .expect("the simulation stays near T0")
}

fn minute_of(unix: u64) -> i64 {
    (unix as i64 - T0 as i64).div_euclid(60)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let registry = Registry::new();
    let clock = ManualClock::new(unix(FIRST_MINUTE));
    let ring = KeyRing::builder(KeySet::new(OLD.key()?, None)?, Metrics::new(&registry)?)
        .with_clock(clock.clone())
        .with_policy(
            RetirePolicy::default()
                .with_min_age(MIN_AGE)
                .with_quiet(QUIET),
        )
        .build();
    let app = Router::new()
        .route("/", get(|_: Verified<Value>| async {}))
        .layer(JwtLayer::<Value>::new(ring.clone()));

    let mut rng = Rng(2026);
    let mut clients = Vec::with_capacity(CLIENTS);
    for id in 0..CLIENTS {
        let lifetime = 60 * TOKEN_LIFETIMES_MINUTES[rng.below(3) as usize];
        // Most clients call every few minutes; one in ten only every 15-25.
        let every = if rng.below(10) == 0 {
            15 + rng.below(11)
        } else {
            1 + rng.below(6)
        } as i64;
        // Tokens were handed out before the simulation starts, at any time
        // within their lifetime, so they expire evenly over it.
        let iat = unix(FIRST_MINUTE) - rng.below(lifetime);
        let (token, exp) = OLD.sign(id, iat, lifetime)?;
        clients.push(Client {
            id,
            lifetime,
            every,
            next_call: FIRST_MINUTE + rng.below(every as u64) as i64,
            token,
            exp,
        });
    }

    let mut samples = Vec::new();
    let mut counters = HashMap::new();
    let mut requests = 0_u64;
    let mut rejected = 0_u64;
    let mut retired_at = None;
    for minute in FIRST_MINUTE..=LAST_MINUTE {
        let now = unix(minute);
        clock.set(now);
        if minute == 0 {
            ring.rotate(NEW.key()?)?;
        }
        let signer = if minute >= SIGNER_SWITCH_MINUTE {
            &NEW
        } else {
            &OLD
        };
        for client in clients.iter_mut().filter(|c| c.next_call <= minute) {
            // Refresh a token that expires within the minute, as clients do.
            if client.exp <= now + 60 {
                (client.token, client.exp) = signer.sign(client.id, now, client.lifetime)?;
            }
            let request = Request::get("/")
                .header(header::AUTHORIZATION, format!("Bearer {}", client.token))
                .body(Body::empty())?;
            let response = app.clone().oneshot(request).await?;
            requests += 1;
            if response.status() != StatusCode::OK {
                rejected += 1;
            }
            client.next_call = minute + client.every;
        }
        if let Some(kid) = ring.check_retirement().await {
            println!("minute {minute:+}: auto retirement dropped {kid}");
            retired_at = Some(minute);
        }
        samples.push(sample(&registry, &ring, &mut counters, minute));
    }

    print_summary(&samples, requests, rejected, retired_at);
    let retired_at = retired_at.ok_or("the old key was never retired: lengthen the run")?;
    plot(&samples, retired_at, requests, rejected)?;
    println!("wrote {OUTPUT}");
    Ok(())
}

/// Reads this minute's numbers from the registry and the ring's status.
/// `counters` keeps each verification series' last value, to turn the
/// counters into per-minute increases (a series that disappears, as the
/// previous key's does at retirement, simply stops contributing).
fn sample(
    registry: &Registry,
    ring: &KeyRing,
    counters: &mut HashMap<(String, String), f64>,
    minute: i64,
) -> Sample {
    let mut previous_per_minute = 0.0;
    let mut current_per_minute = 0.0;
    let mut live_tokens = 0.0;
    for family in registry.gather() {
        for metric in family.get_metric() {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|pair| pair.name() == name)
                    .map(|pair| pair.value().to_owned())
                    .unwrap_or_default()
            };
            match (family.name(), family.get_field_type()) {
                ("jwt_verifications_total", MetricType::COUNTER) => {
                    let slot = label("slot");
                    let value = metric.get_counter().get_value();
                    let last = counters.insert((slot.clone(), label("kid")), value);
                    let increase = value - last.unwrap_or(0.0);
                    match slot.as_str() {
                        "previous" => previous_per_minute += increase,
                        _ => current_per_minute += increase,
                    }
                }
                ("jwt_previous_key_live_tokens", MetricType::GAUGE) => {
                    live_tokens = metric.get_gauge().get_value();
                }
                _ => {}
            }
        }
    }
    let blockers = ring
        .status()
        .previous
        .map(|previous| {
            previous
                .eligibility
                .blockers
                .iter()
                .map(|blocker| {
                    let name = serde_json::to_value(blocker.blocker)
                        .ok()
                        .and_then(|name| name.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    // This ring has no fleet gate: its blockers all know when they clear.
                    (name, blocker.clears_at.map_or(minute, minute_of))
                })
                .collect()
        })
        .unwrap_or_default();
    Sample {
        minute,
        previous_per_minute,
        current_per_minute,
        live_tokens,
        blockers,
    }
}

fn print_summary(samples: &[Sample], requests: u64, rejected: u64, retired_at: Option<i64>) {
    println!("minute  previous/min  current/min  live  blockers (clear at minute)");
    for s in samples
        .iter()
        .filter(|s| s.minute % 5 == 0 || Some(s.minute) == retired_at)
    {
        let blockers: Vec<String> = s
            .blockers
            .iter()
            .map(|(name, clears)| format!("{name} {clears:+}"))
            .collect();
        println!(
            "{:+6}  {:12}  {:11}  {:4}  {}",
            s.minute,
            s.previous_per_minute,
            s.current_per_minute,
            s.live_tokens,
            blockers.join(", ")
        );
    }
    let last_previous_use = samples
        .iter()
        .filter(|s| s.previous_per_minute > 0.0)
        .map(|s| s.minute)
        .max();
    let live_zero = samples
        .iter()
        .filter(|s| s.minute > 0 && s.live_tokens == 0.0)
        .map(|s| s.minute)
        .min();
    let at = |minute: Option<i64>| minute.map_or("never".to_owned(), |m| format!("{m:+}"));
    println!(
        "rotation at minute 0 (step {} of the run), signer switch at minute {SIGNER_SWITCH_MINUTE:+}, \
         last previous-key verification at minute {}, live previous-key tokens 0 from minute {}, \
         auto retirement at minute {}",
        -FIRST_MINUTE,
        at(last_previous_use),
        at(live_zero),
        at(retired_at),
    );
    println!("{requests} requests, {rejected} rejected");
}

/// One plotted series.
struct Line {
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

impl Line {
    fn new(
        samples: &[Sample],
        label: &'static str,
        color: RGBColor,
        value: impl Fn(&Sample) -> f64,
    ) -> Self {
        let points = samples
            .iter()
            .map(|s| (s.minute as f64, value(s)))
            .collect();
        Self {
            label,
            color,
            points,
        }
    }
}

const OLD_COLOR: RGBColor = RGBColor(214, 39, 40);
const NEW_COLOR: RGBColor = RGBColor(31, 119, 180);
const MARKER_COLOR: RGBColor = RGBColor(90, 90, 90);

fn plot(
    samples: &[Sample],
    retired_at: i64,
    requests: u64,
    rejected: u64,
) -> Result<(), Box<dyn Error>> {
    // Minute, label, and the label's height as a share of the panel's.
    let markers = [
        (0, "rotation: the Secret update arrives", 0.97),
        (
            SIGNER_SWITCH_MINUTE,
            "the signer switches to the new key",
            0.88,
        ),
        (retired_at, "auto retirement", 0.97),
    ];
    let root = SVGBackend::new(OUTPUT, (1000, 680)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Old-key usage falling to zero, then retirement",
        ("sans-serif", 26),
    )?;
    let (top, bottom) = root.split_vertically(360);
    panel(
        &top,
        &format!(
            "Verifications per minute, by the slot of the key that matched \
             ({requests} requests, {rejected} rejected)"
        ),
        "verifications / min",
        &[
            Line::new(
                samples,
                "slot=\"previous\" (the old key after the rotation)",
                OLD_COLOR,
                |s| s.previous_per_minute,
            ),
            Line::new(samples, "slot=\"current\"", NEW_COLOR, |s| {
                s.current_per_minute
            }),
        ],
        &markers,
        retired_at,
    )?;
    panel(
        &bottom,
        "jwt_previous_key_live_tokens: previous-key tokens seen and not expired",
        "live tokens",
        &[Line::new(
            samples,
            "live previous-key tokens",
            OLD_COLOR,
            |s| s.live_tokens,
        )],
        &markers,
        retired_at,
    )?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    y_desc: &str,
    lines: &[Line],
    markers: &[(i64, &'static str, f64)],
    retired_at: i64,
) -> Result<(), Box<dyn Error>> {
    let y_max = lines
        .iter()
        .flat_map(|line| line.points.iter().map(|(_, y)| *y))
        .fold(1.0_f64, f64::max)
        * 1.35;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(FIRST_MINUTE as f64..LAST_MINUTE as f64, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("minutes since the rotation")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:+.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // The window in which the old key is still accepted, as previous.
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 0.0), (retired_at as f64, y_max)],
        OLD_COLOR.mix(0.06).filled(),
    )))?;
    for &(minute, label, height) in markers {
        chart.draw_series(DashedLineSeries::new(
            [(minute as f64, 0.0), (minute as f64, y_max)],
            6,
            4,
            MARKER_COLOR.stroke_width(1),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            label,
            (minute as f64 + 0.8, y_max * height),
            ("sans-serif", 13).into_font().color(&MARKER_COLOR),
        )))?;
    }
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.9))
        .border_style(MARKER_COLOR)
        .draw()?;
    Ok(())
}
