//! The app's end of the session: it owns the [`Session`], drains its events once a frame
//! without ever blocking, and keeps what they said in [`Live`] for the other plugins.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use agent::session::{Command, Decision, EpisodeOutcome, Event, Metrics, Phase, Session, Speed};
use bevy::prelude::*;
use sim::{Drawable, Goal, WorldSpec};

use crate::ViewConfig;

/// Points kept per live plot.
const HISTORY: usize = 600;
/// Messages kept for the log line.
const MESSAGES: usize = 6;

/// One learner figure over recent steps.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// `(learner step, value)`, oldest first.
    pub points: VecDeque<[f64; 2]>,
}

impl Series {
    fn push(&mut self, step: u64, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.points.len() == HISTORY {
            self.points.pop_front();
        }
        self.points.push_back([step as f64, value]);
    }
}

/// The learner's figures as live plots.
#[derive(Clone, Debug, Default)]
pub struct LearnerHistory {
    /// Total loss.
    pub loss: Series,
    /// Each loss term by name (prediction, regulariser, ...).
    pub parts: Vec<(&'static str, Series)>,
    /// Mean per-dimension std of the latents (collapse: towards 0).
    pub latent_std: Series,
    /// Effective rank of the latents (collapse: towards 1).
    pub effective_rank: Series,
}

impl LearnerHistory {
    fn push(&mut self, metrics: &Metrics) {
        let report = &metrics.step;
        self.loss.push(report.step, report.loss);
        for (name, value) in &report.parts {
            match self.parts.iter_mut().find(|(n, _)| n == name) {
                Some((_, series)) => series.push(report.step, *value),
                None => {
                    let mut series = Series::default();
                    series.push(report.step, *value);
                    self.parts.push((name, series));
                }
            }
        }
        self.latent_std.push(report.step, report.latent_std_mean);
        if let Some(rank) = report.effective_rank {
            self.effective_rank.push(report.step, rank);
        }
    }
}

/// The actor's frame, as the learner sees it.
#[derive(Clone, Debug, Default)]
pub struct Picture {
    /// Side in pixels.
    pub size: usize,
    /// `[size, size, 3]` bytes.
    pub rgb: Vec<u8>,
    /// Bumped on every change (textures re-upload on change only).
    pub version: u64,
}

impl Picture {
    fn set(&mut self, size: usize, rgb: Vec<u8>) {
        self.size = size;
        self.rgb = rgb;
        self.version += 1;
    }
}

/// How the agent answered the driver: steps driven and the distance moved along the driver's
/// direction.
#[derive(Clone, Debug, Default)]
pub struct TeleopTrack {
    /// Steps taken on the driver's action.
    pub steps: u64,
    /// Metres moved along the driver's direction over them.
    pub progress: f64,
    /// Where the agent stood and the unit direction asked, until the step's frame arrives.
    pending: Option<([f32; 2], [f32; 2])>,
}

/// What the app asked the session for last (the toolbar shows these).
#[derive(Clone, Debug)]
pub struct Asked {
    /// The actor's episode is paused.
    pub paused: bool,
    /// The learner trains.
    pub learning: bool,
    /// The planner uses the hazard guardrail.
    pub guardrail: bool,
    /// The actor's pace.
    pub speed: Speed,
}

/// Everything the session has said, as the app shows it.
#[derive(Resource)]
pub struct Live {
    session: Option<Session>,
    /// The world's name.
    pub world: String,
    /// The world.
    pub spec: Arc<WorldSpec>,
    /// A world asked for and not switched to yet.
    pending_world: Option<Arc<WorldSpec>>,
    /// The run folder.
    pub run_dir: PathBuf,
    /// The session's phase.
    pub phase: Option<Phase>,
    /// The learner is filling its replay buffer (transitions so far).
    pub filling: Option<usize>,
    /// The agent's-eye frame.
    pub eye: Picture,
    /// The goal image.
    pub goal_image: Picture,
    /// The world's drawables as they stand.
    pub scene: Vec<Drawable>,
    /// Bumped whenever `scene` changes.
    pub scene_version: u64,
    /// The agent's planar position.
    pub agent: [f32; 2],
    /// The episode's goal.
    pub goal: Option<Goal>,
    /// Where the agent has been this episode.
    pub path: Vec<[f32; 2]>,
    /// The planner's newest decision.
    pub decision: Option<Decision>,
    /// Where the agent stood when it was taken.
    pub decided_at: [f32; 2],
    /// The learner's newest figures.
    pub metrics: Option<Metrics>,
    /// The learner's figures over time.
    pub history: LearnerHistory,
    /// Steps and hazard entries of the current episode.
    pub episode: [u64; 2],
    /// Ended episodes, oldest first.
    pub outcomes: Vec<EpisodeOutcome>,
    /// Newest messages (refusals, checkpoints, notices), oldest first.
    pub messages: VecDeque<String>,
    /// The newest checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// What the app asked for last.
    pub asked: Asked,
    /// How the agent answered the driver.
    pub teleop: TeleopTrack,
    /// The newest goal asked for, and whether an episode has taken it (a frame carried it).
    pub asked_goal: Option<(Goal, bool)>,
    /// Frames received so far.
    pub frames: u64,
}

impl Live {
    fn new(session: Session, config: &ViewConfig) -> Self {
        let spec = Arc::clone(&config.session.world);
        // The world as it starts, until the actor's first frame arrives.
        let (scene, agent, goal) =
            match sim::World::from_seed(Arc::clone(&spec), config.session.seed) {
                Ok(world) => {
                    let at = world.agent_position();
                    (world.scene(), [at[0], at[1]], Some(*world.goal()))
                }
                Err(_) => (Vec::new(), [0.0; 2], None),
            };
        Self {
            session: Some(session),
            world: spec.name.clone(),
            spec,
            pending_world: None,
            run_dir: config.session.run_dir.clone(),
            phase: None,
            filling: None,
            eye: Picture::default(),
            goal_image: Picture::default(),
            scene,
            scene_version: 1,
            agent,
            goal,
            path: Vec::new(),
            decision: None,
            decided_at: [0.0; 2],
            metrics: None,
            history: LearnerHistory::default(),
            episode: [0; 2],
            outcomes: Vec::new(),
            messages: VecDeque::new(),
            checkpoint: None,
            asked: Asked {
                paused: false,
                learning: true,
                guardrail: true,
                speed: match config.session.clock {
                    agent::session::Clock::RealTime => Speed::Times(1.0),
                    _ => Speed::Unpaced,
                },
            },
            teleop: TeleopTrack::default(),
            asked_goal: None,
            frames: 0,
        }
    }

    /// Sends `command` to the session and remembers the toggles it sets.
    pub fn send(&mut self, command: Command) {
        match &command {
            Command::Pause | Command::Step => self.asked.paused = true,
            Command::Resume => self.asked.paused = false,
            Command::SetLearning(on) => self.asked.learning = *on,
            Command::SetGuardrail(on) => self.asked.guardrail = *on,
            Command::SetSpeed(speed) => self.asked.speed = *speed,
            Command::SwitchWorld(spec) => self.pending_world = Some(Arc::clone(spec)),
            Command::SetGoal(goal) => self.asked_goal = Some((*goal, false)),
            _ => {}
        }
        let delivered = self.session.as_ref().is_some_and(|s| s.send(command));
        if !delivered {
            self.say(
                "the session did not take the command (busy fitting, or ended); try again".into(),
            );
        }
    }

    /// Planned episodes that ended, and how many of them succeeded.
    pub fn success(&self) -> (usize, usize) {
        let planned = self.outcomes.iter().filter(|o| o.planned);
        let (n, wins) = planned.fold((0, 0), |(n, w), o| (n + 1, w + usize::from(o.success)));
        (n, wins)
    }

    /// Adds a line to the messages the panel shows.
    pub fn say(&mut self, message: String) {
        if self.messages.len() == MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
    }

    /// Takes every event that has arrived, never waiting.
    fn drain(&mut self) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        let events: Vec<Event> = session.events().try_iter().take(4096).collect();
        for event in events {
            self.take(event);
        }
    }

    fn take(&mut self, event: Event) {
        match event {
            Event::Phase(phase) => self.phase = Some(phase),
            Event::Filling { transitions } => self.filling = Some(transitions),
            Event::Metrics(metrics) => {
                self.filling = None;
                self.history.push(&metrics);
                self.metrics = Some(metrics);
            }
            Event::Decision(decision) => {
                self.decided_at = self.agent;
                let [x, y] = decision.taken;
                let norm = x.hypot(y);
                if decision.teleop && norm > 0.0 {
                    self.teleop.steps += 1;
                    self.teleop.pending = Some((self.agent, [x / norm, y / norm]));
                }
                self.decision = Some(decision);
            }
            Event::Frame {
                size,
                rgb,
                agent,
                goal,
                goal_state,
                scene,
                episode_steps,
                hazard_entries,
            } => {
                self.frames += 1;
                self.eye.set(size, rgb);
                if let Some(goal) = goal {
                    self.goal_image.set(size, goal);
                }
                if episode_steps == 0 {
                    self.path.clear();
                    self.decision = None;
                }
                self.path.push(agent);
                if let Some((at, dir)) = self.teleop.pending.take() {
                    let moved = [agent[0] - at[0], agent[1] - at[1]];
                    self.teleop.progress += f64::from(moved[0] * dir[0] + moved[1] * dir[1]);
                }
                self.agent = agent;
                if let Some((asked, taken)) = self.asked_goal.as_mut() {
                    *taken |= *asked == goal_state;
                }
                self.goal = Some(goal_state);
                self.scene = scene;
                self.scene_version += 1;
                self.episode = [episode_steps, hazard_entries];
            }
            Event::EpisodeEnded(outcome) => self.outcomes.push(outcome),
            Event::Fitted { step } => {
                self.say(format!("cost models fitted on the step-{step} weights"));
            }
            Event::Checkpoint(path) => {
                self.say(format!("checkpoint written: {}", path.display()));
                self.checkpoint = Some(path);
            }
            Event::Loaded(path) => {
                self.say(format!("loaded {}; refitting", path.display()));
            }
            Event::WorldSwitched(name) => {
                self.say(format!("switched to world {name}"));
                if let Some(spec) = self.pending_world.take() {
                    self.spec = spec;
                }
                self.world = name;
                self.outcomes.clear();
            }
            Event::Refused(why) => self.say(format!("refused: {why}")),
            Event::Notice(notice) => self.say(notice),
            Event::Progress { what, done } => self.say(format!("{what}: {:.0}%", 100.0 * done)),
        }
    }

    /// Takes the session out (at exit), so that it can be stopped and joined.
    pub fn take_session(&mut self) -> Option<Session> {
        self.session.take()
    }
}

/// Stops `session` and waits for it (the learner writes its final checkpoint).
pub fn stop_and_join(session: Session) -> Result<(), String> {
    session.send(Command::Stop);
    session
        .join_with(&mut |_| {})
        .map(|_| ())
        .map_err(|err| err.to_string())
}

/// Owns the session and drains its events at the start of every frame.
pub struct SessionLinkPlugin {
    live: std::sync::Mutex<Option<Live>>,
}

impl SessionLinkPlugin {
    /// The plugin for a started `session`.
    pub fn new(session: Session, config: &ViewConfig) -> Self {
        Self {
            live: std::sync::Mutex::new(Some(Live::new(session, config))),
        }
    }
}

impl Plugin for SessionLinkPlugin {
    fn build(&self, app: &mut App) {
        let live = self
            .live
            .lock()
            .ok()
            .and_then(|mut live| live.take())
            .expect("SessionLinkPlugin is built once");
        app.insert_resource(live)
            .add_systems(PreUpdate, drain_events);
    }
}

fn drain_events(mut live: ResMut<Live>) {
    live.drain();
}
