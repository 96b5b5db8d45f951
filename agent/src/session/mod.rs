//! The closed loop as a library: simulator threads stream exploration to the learner thread,
//! an actor thread fits the planner's cost models on the newest weight snapshot and plans
//! practice episodes while learning goes on, and at the end of a budget the cost models are
//! fitted on the final weights and evaluated. A surface (the headless demo, the desktop app, a
//! curriculum runner) starts a [`Session`], sends it [`Command`]s and renders its [`Event`]s;
//! nothing here prints or draws.

mod actor;
mod config;
mod practice;
mod protocol;

use std::thread::JoinHandle;
use std::time::Duration;

use burn::prelude::Device;
use crossbeam_channel::{Receiver, Sender, bounded};

pub use self::actor::{FinalResult, SessionReport};
pub use self::config::{Budget, Clock, FinalEvaluation, SessionConfig};
pub use self::protocol::{Command, Decision, EpisodeOutcome, Event, Metrics, Phase, Speed};

use crate::pipeline::PipelineError;
use crate::train::TrainError;

/// What stopped a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A setting out of range; the message names it and what it accepts.
    #[error("{0}")]
    Config(String),
    /// The learner failed (a diverging run, a checkpoint that cannot be written).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    /// The cost models' fit or the evaluation failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Events a session holds for a slow reader before it drops frames, decisions and metrics.
pub const EVENT_QUEUE: usize = 1024;

/// A running closed loop.
pub struct Session {
    commands: Sender<Command>,
    events: Receiver<Event>,
    handle: Option<JoinHandle<Result<SessionReport, SessionError>>>,
}

impl Session {
    /// Starts the simulator, learner and actor threads of `config` on `device`.
    pub fn start(config: SessionConfig, device: &Device) -> Result<Self, SessionError> {
        let (commands, inbox) = bounded(64);
        let (outbox, events) = bounded(EVENT_QUEUE);
        let actor = actor::Actor::start(config, device.clone(), inbox, outbox)?;
        let handle = std::thread::Builder::new()
            .name("kennel-actor".to_owned())
            .spawn(move || actor.run())
            .map_err(|err| SessionError::Config(format!("cannot start the actor thread: {err}")))?;
        Ok(Self {
            commands,
            events,
            handle: Some(handle),
        })
    }

    /// Sends a command; `false` when the session has ended or 64 commands are waiting.
    pub fn send(&self, command: Command) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// The session's events.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Whether the session has ended (its report waits in [`join`](Self::join)).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the end of the session, draining events meanwhile so it never waits on a
    /// full queue; `on_event` sees each.
    pub fn join_with(
        mut self,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<SessionReport, SessionError> {
        let Some(handle) = self.handle.take() else {
            return Err(SessionError::Config(
                "the session was already joined".to_owned(),
            ));
        };
        while !handle.is_finished() {
            if let Ok(event) = self.events.recv_timeout(Duration::from_millis(100)) {
                on_event(event);
            }
        }
        while let Ok(event) = self.events.try_recv() {
            on_event(event);
        }
        handle
            .join()
            .unwrap_or_else(|_| Err(SessionError::Config("the actor thread panicked".to_owned())))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.commands.try_send(Command::Stop);
            // Keep the queue moving so the actor can see the command and end.
            while !handle.is_finished() {
                let _ = self.events.recv_timeout(Duration::from_millis(50));
            }
            let _ = handle.join();
        }
    }
}
