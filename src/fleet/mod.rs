//! The fleet gate: retire a key only when every replica agrees, and know
//! when every replica has loaded a new one.
//!
//! With many replicas, each sees only its slice of the traffic and gets a
//! Secret update at its own moment. A [`FleetGate`] given to
//! [`JwtRolloverBuilder::with_fleet_gate`](crate::JwtRolloverBuilder::with_fleet_gate)
//! (or [`KeyRingBuilder::with_fleet_gate`](crate::KeyRingBuilder::with_fleet_gate))
//! adds the fleet's view to eligibility: auto retirement and the admin
//! retire endpoint (unless forced) then need it too, its blockers show in
//! `GET /admin/keys` beside the local ones, and a `fleet` section there
//! shows its last answer. [`KeyRing::loaded_everywhere`](crate::KeyRing::loaded_everywhere)
//! asks it whether every replica reports a kid as current.
//!
//! [`PrometheusGate`] (cargo feature `prometheus-gate`, on by default)
//! reads the answer from the metrics Prometheus already scrapes from every
//! replica; `docs/fleet.md` lists its queries and the runbook.

pub use crate::ring::fleet::{
    FleetGate, FleetView, GateError, GateErrorReason, GateFuture, RetireQuestion,
};

#[cfg(feature = "prometheus-gate")]
mod prometheus;
#[cfg(feature = "prometheus-gate")]
pub use prometheus::{
    DEFAULT_GATE_TIMEOUT, DEFAULT_SCRAPE_INTERVAL, FleetQueries, GateConfigError, PrometheusGate,
};
