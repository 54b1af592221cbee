//! An exhaustive model check of Conclave's leader-succession rule ("succession v2": quorum
//! failover and stable epochs) with the [`stateright`] model checker.
//!
//! The model is abstract: no cryptography, signatures are unforgeable by construction (the relay
//! can only deliver, drop, duplicate or reorder what honest participants sent), time is a
//! nondeterministic watchdog that may fire at any moment. See `model/README.md` for what is
//! modelled, what is abstracted away and why, the bounds and the results.
//!
//! ```
//! use conclave_model::{Config, check, properties};
//! let report = check(Config::new(3, 2));
//! assert!(!report.found(properties::P1_REMOVAL));
//! assert!(report.found(properties::SOME_REMOVAL_STABLE));
//! ```

pub mod check;
pub mod config;
pub mod model;
pub mod properties;
pub mod state;

pub use check::{Report, check, shortest_trace};
pub use config::{Config, Weakening};
pub use model::{Action, Succession};
