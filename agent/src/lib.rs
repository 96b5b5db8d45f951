//! kennel's agent: the JEPA world model, its training on streamed transitions, the replay
//! buffer, the planner and probes. It sees only `sim`'s public types (observations, actions,
//! specs), never Rapier or Bevy.
//!
//! The learner, planner and probes arrive with their own issues; this crate exists now so the
//! workspace's dependency direction (`agent` → `sim`, never the reverse) is fixed from the start.
