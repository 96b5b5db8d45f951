//! The actor thread: it owns the learner, answers commands, fits the cost models on the
//! newest weight snapshot, plays practice episodes with them (handing them to the learner),
//! and at the end of the budget runs the final fit and evaluation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::prelude::Device;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use sim::stream::{StreamConfig, TransitionStream, spawn};
use sim::{Action, Goal, SeedSequence, SmoothRandomPolicy, VecEnv, WorldSpec};

use super::practice::{PracticeEpisode, position_probe};
use super::{
    Budget, Clock, Command, EVENT_QUEUE, EpisodeOutcome, Event, Metrics, Phase, SessionConfig,
    SessionError, Speed,
};
use crate::ReplayBuffer;
use crate::model::JepaModel;
use crate::pipeline::{
    EXPLORATION_SEED, EvalProgress, EvalSettings, EvalTable, Notice, PlannerGraph, PlanningConfig,
    cost_models_dir, fit_cost_models, one_thread_pool, run_eval_table,
};
use crate::plan::{
    CostModels, HazardClassifier, HazardSightConfig, HazardSightData, LabelledEpisode,
    LatentEpisodes, collect_exploration,
};
use crate::probe::RidgeProbe;
use crate::train::{
    Learner, LearnerConfig, LearnerControl, LearnerEvent, LearnerLockstep, LearnerSummary, Trainer,
    check_camera, load_model,
};

/// How a session went.
pub struct SessionReport {
    /// The learner's run.
    pub learner: LearnerSummary,
    /// Seconds from the start to the end of learning.
    pub learning_s: f64,
    /// The actor's practice episodes, in order.
    pub practice: Vec<EpisodeOutcome>,
    /// The world the session ended in.
    pub world: Arc<WorldSpec>,
    /// The final fit and evaluation (`None` when the config asks for none or the session was
    /// stopped).
    pub final_result: Option<FinalResult>,
}

/// The cost models fitted on the final weights and their evaluation.
pub struct FinalResult {
    /// The final checkpoint (the cost models are saved in its `cost_models/`).
    pub checkpoint: PathBuf,
    /// The model the planner imagines with (the refitted predictor, when there is one).
    pub model: JepaModel,
    /// The fitted cost models.
    pub cost_models: CostModels,
    /// The graph the planner routes through.
    pub graphs: PlannerGraph,
    /// How the table was run.
    pub settings: EvalSettings,
    /// The table.
    pub table: EvalTable,
    /// Advice from the fit.
    pub notices: Vec<Notice>,
    /// Seconds of fitting.
    pub fit_s: f64,
    /// Seconds of evaluating.
    pub eval_s: f64,
}

/// The cost models fitted on one weight snapshot.
pub(super) struct ActorModels {
    pub(super) step: u64,
    pub(super) model: Arc<JepaModel>,
    pub(super) cost: CostModels,
    pub(super) graphs: PlannerGraph,
    /// The agent's position read linearly off a latent (fitted on the exploration's
    /// proprioception), to draw imagined plans where no pose readout exists.
    pub(super) positions: Option<RidgeProbe>,
    fitted_at: Instant,
}

impl ActorModels {
    /// The guardrail to plan with (`on` false: none).
    pub(super) fn guardrail(&self, on: bool) -> Option<&HazardClassifier> {
        self.cost.guardrail.as_ref().filter(|_| on)
    }
}

/// What the commands asked for and the actor has not done yet.
struct Controls {
    paused: bool,
    /// Pace of the episode in real time (`None`: unpaced).
    speed: Option<f64>,
    step_once: bool,
    guardrail: bool,
    teleop: Option<[f32; 2]>,
    goal: Option<Goal>,
    reset: bool,
    stop: bool,
    world: Option<Arc<WorldSpec>>,
    /// A checkpoint was loaded: refit and plan at once.
    reloaded: bool,
}

pub(super) struct Actor {
    config: SessionConfig,
    spec: Arc<WorldSpec>,
    device: Device,
    commands: Receiver<Command>,
    events: Sender<Event>,
    learner: Learner,
    exploration: Vec<LabelledEpisode>,
    models: Option<Arc<ActorModels>>,
    practice: Vec<EpisodeOutcome>,
    practice_seeds: SeedSequence,
    episodes_started: u64,
    started: Instant,
    controls: Controls,
    phase: Option<Phase>,
    /// The actor may plan from the start (a checkpoint was loaded).
    plan_now: bool,
}

impl Actor {
    /// Checks `config`, starts the simulator threads and the learner.
    pub(super) fn start(
        mut config: SessionConfig,
        device: Device,
        commands: Receiver<Command>,
        events: Sender<Event>,
    ) -> Result<Self, SessionError> {
        check(&config)?;
        config.planning = config.planning_in_effect();
        let spec = Arc::clone(&config.world);
        let trainer = Trainer::new(config.train.clone(), &device)?;
        check_camera(&spec, &config.train)?;
        std::fs::create_dir_all(&config.run_dir).map_err(|err| {
            SessionError::Config(format!(
                "cannot create the run folder {}: {err}",
                config.run_dir.display()
            ))
        })?;
        let stream = start_stream(&spec, &config, 0)?;
        let (max_steps, max_duration) = match config.budget {
            Budget::Time(duration) => (None, Some(duration)),
            Budget::LearnerSteps(steps) => (Some(steps), None),
            Budget::Unlimited => (None, None),
        };
        let lockstep = (config.clock == Clock::Lockstep).then(|| LearnerLockstep {
            from: lockstep_plan_from(&config).max(1),
            every: config.practice_every_steps.max(1),
        });
        let learner = Learner::spawn(
            trainer,
            ReplayBuffer::new(config.replay_bytes),
            Some(stream),
            LearnerConfig {
                run_dir: config.run_dir.clone(),
                max_steps,
                max_duration,
                sequence_pool: config.sequence_pool,
                stream_batches_per_step: config.stream_batches_per_step.max(1),
                lockstep,
                ..LearnerConfig::default()
            },
        )?;
        Ok(Self {
            practice_seeds: SeedSequence::new(config.seed ^ 0x9ac7),
            spec,
            device,
            commands,
            events,
            learner,
            exploration: Vec::new(),
            models: None,
            practice: Vec::new(),
            episodes_started: 0,
            started: Instant::now(),
            controls: Controls {
                paused: false,
                speed: (config.clock == Clock::RealTime).then_some(1.0),
                step_once: false,
                guardrail: true,
                teleop: None,
                goal: None,
                reset: false,
                stop: false,
                world: None,
                reloaded: false,
            },
            phase: None,
            plan_now: false,
            config,
        })
    }

    /// The closed loop, then the final fit and evaluation.
    pub(super) fn run(mut self) -> Result<SessionReport, SessionError> {
        self.set_phase(Phase::Exploring);
        // Exploration episodes for the practice fits: collected once, re-encoded with each
        // new snapshot (at most 100 episodes: the final fit explores more, keeping latents).
        self.exploration = collect_exploration(
            &self.spec,
            self.config.planning.fit_episodes.clamp(2, 100),
            self.config.seed ^ EXPLORATION_SEED,
        )?;
        let pool = one_thread_pool()?;
        let looped = if self.config.clock == Clock::Lockstep {
            self.run_lockstep(&pool)
        } else {
            self.run_free(&pool)
        };
        if let Err(err) = looped {
            self.learner.request_stop();
            return Err(err);
        }
        self.finish()
    }

    /// Free-running: the learner trains as fast as it goes; the actor explores, then plays
    /// practice episodes back to back, refitting when the weights have moved on.
    fn run_free(&mut self, pool: &rayon::ThreadPool) -> Result<(), SessionError> {
        while !self.learner.is_finished() {
            self.pump();
            self.switch_world_if_asked()?;
            if self.controls.stop {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if !self.may_plan() {
                if self.config.wander_while_exploring {
                    self.play_episode(None, pool)?;
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            let Some((weights_step, latest)) = self.learner.weights().latest() else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            if self.stale(weights_step) {
                self.refit(weights_step, latest, pool);
                continue;
            }
            if let Some(models) = self.models.clone() {
                self.play_episode(Some(&*models), pool)?;
            }
        }
        Ok(())
    }

    /// Lockstep: the learner waits at fixed steps; at each, the actor refits when the
    /// weights have moved on enough, plays one episode, hands it over and releases it.
    fn run_lockstep(&mut self, pool: &rayon::ThreadPool) -> Result<(), SessionError> {
        let refit_steps = match self.config.budget {
            Budget::LearnerSteps(steps) => (steps / 5).max(1),
            _ => 100,
        };
        while !self.learner.is_finished() {
            self.pump();
            self.switch_world_if_asked()?;
            let sync = self
                .learner
                .sync_requests()
                .recv_timeout(Duration::from_millis(100));
            match sync {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if !self.controls.stop
                && let Some((weights_step, latest)) = self.learner.weights().latest()
            {
                let stale = self
                    .models
                    .as_ref()
                    .is_none_or(|m| weights_step >= m.step + refit_steps);
                if stale {
                    self.refit(weights_step, latest, pool);
                }
                if let Some(models) = self.models.clone() {
                    self.play_episode(Some(&*models), pool)?;
                }
            }
            self.learner.release();
        }
        Ok(())
    }

    /// Whether the exploration share of the budget is over (and learning still goes on).
    fn may_plan(&self) -> bool {
        if self.plan_now {
            return true;
        }
        let share = self.config.explore_fraction;
        match self.config.budget {
            Budget::Time(budget) => {
                let elapsed = self.started.elapsed();
                elapsed >= budget.mul_f64(share) && elapsed < budget
            }
            Budget::LearnerSteps(steps) => {
                let step = self.learner.weights().latest().map_or(0, |(s, _)| s);
                step as f64 >= share * steps as f64 && step < steps
            }
            Budget::Unlimited => self.started.elapsed() >= Duration::from_secs_f64(600.0 * share),
        }
    }

    /// Whether the actor's models predate `weights_step` by long enough to refit.
    fn stale(&self, weights_step: u64) -> bool {
        let refit_every = self.refit_interval();
        self.models
            .as_ref()
            .is_none_or(|m| m.step != weights_step && m.fitted_at.elapsed() >= refit_every)
    }

    /// How long practice plays on one fit before refitting on newer weights.
    fn refit_interval(&self) -> Duration {
        match self.config.budget {
            Budget::Time(budget) => Duration::from_secs_f64((budget.as_secs_f64() / 5.0).max(20.0)),
            _ => Duration::from_secs(120),
        }
    }

    /// Fits the practice cost models on the step-`weights_step` weights `latest`.
    fn refit(&mut self, weights_step: u64, latest: Arc<JepaModel>, pool: &rayon::ThreadPool) {
        self.set_phase(Phase::Fitting);
        // A loaded checkpoint is answered by this fit.
        self.controls.reloaded = false;
        let planning = &self.config.planning;
        // A shorter fit than the final one: practice refits several times (the predictor's
        // refit only when asked: 750 steps of it at each refit left practice success where it
        // was, 15 of 65 episodes against 18, on one lockstep two_rooms seed).
        let seed = self.config.seed;
        let config = planning
            .cost_models_config(
                &self.spec,
                latest.encoder.latent_dim(),
                latest.encoder.proprio_dims(),
                seed,
                planning.practice_critic_steps,
            )
            .with_predictor(planning.predictor_fit(planning.practice_predictor_fit_steps, seed));
        // The pose dynamics and the hazard sight do not depend on the weights: fitted once,
        // then kept.
        let (kept_dynamics, kept_sight) = self
            .models
            .take()
            .and_then(|m| Arc::try_unwrap(m).ok())
            .map_or((None, None), |m| (m.cost.pose_dynamics, m.cost.sight));
        // A quarter of the final fit's steps: practice episodes need not be its best.
        let dynamics = config
            .pose_dynamics
            .clone()
            .filter(|_| kept_dynamics.is_none());
        let config =
            config.with_pose_dynamics(dynamics.map(|fit| fit.clone().with_steps(fit.steps / 4)));
        let context_dims = self.config.train.model.context_dims();
        let (exploration, device, spec) = (&self.exploration, &self.device, &self.spec);
        // On a time budget, exploring again stops after half the refit interval (800 episodes
        // take minutes on a laptop, more than a 10-minute demo's practice phase can spare).
        let explore_deadline = match self.config.budget {
            Budget::Time(_) => Some(Instant::now() + self.refit_interval() / 2),
            _ => None,
        };
        let mut explore_failed = None;
        let (mut cost, graphs, positions, refit) = pool.install(|| {
            let recorded = LatentEpisodes::encode(&latest, exploration, device);
            let positions = position_probe(&recorded, exploration);
            // The cost models on as many episodes as the final fit's: the recorded ones, then
            // the rest of the same exploration, explored again and encoded one at a time
            // (latents kept, not frames): the route through 100 recorded episodes rarely held
            // enough episodes of the goal's layout (two_rooms' door).
            let mut data = recorded;
            if planning.fit_episodes > data.latents.len() {
                match LatentEpisodes::explore_until(
                    spec,
                    &latest,
                    data.latents.len()..planning.fit_episodes,
                    seed ^ EXPLORATION_SEED,
                    explore_deadline,
                    device,
                    &mut |_| {},
                ) {
                    Ok(more) => data.append(more),
                    Err(err) => explore_failed = Some(err),
                }
            }
            let mut cost = CostModels::fit(&data, config, device, &mut |_| {});
            let refit = cost.refit_predictor(&latest.predictor, &data, device, &mut |_| {});
            let graphs = PlannerGraph::build(&cost, planning, context_dims, device);
            (cost, graphs, positions, refit)
        });
        if let Some(err) = explore_failed {
            self.tell(Event::Notice(format!(
                "practice refit at step {weights_step}: exploring again failed ({err}); fitted on the {} recorded episodes",
                self.exploration.len()
            )));
        }
        if let Err(err) = refit {
            self.tell(Event::Notice(format!(
                "practice refit at step {weights_step}: {err}; practice imagines with the learner's predictor"
            )));
        }
        if kept_dynamics.is_some() {
            cost.pose_dynamics = kept_dynamics;
        }
        planning.apply_familiarity(&mut cost);
        cost.sight = match kept_sight {
            Some(sight) => Some(sight),
            None if planning.hazard_sight && !self.spec.hazards.is_empty() => {
                let mut data = HazardSightData::new(&self.spec, seed);
                for episode in &self.exploration {
                    data.add(episode);
                }
                data.fit(&HazardSightConfig::default())
            }
            None => None,
        };
        let model = match cost.predictor {
            Some(_) => Arc::new(cost.planning_model(&latest)),
            None => latest,
        };
        self.models = Some(Arc::new(ActorModels {
            step: weights_step,
            model,
            cost,
            graphs,
            positions,
            fitted_at: Instant::now(),
        }));
        self.tell(Event::Fitted { step: weights_step });
    }

    /// Plays one practice episode with `models` (or wandering, without), step by step,
    /// answering commands between steps; hands it to the learner and reports its outcome.
    fn play_episode(
        &mut self,
        models: Option<&ActorModels>,
        pool: &rayon::ThreadPool,
    ) -> Result<(), SessionError> {
        if models.is_some() {
            self.set_phase(Phase::Practising);
        }
        let seed = self.practice_seeds.episode_seed(0, self.episodes_started);
        self.episodes_started += 1;
        let spec = Arc::clone(&self.spec);
        let clock = self.config.clock;
        let planning = &self.config.planning;
        let mut episode =
            PracticeEpisode::start(models, &spec, seed, planning, clock, &self.device, pool)?;
        episode.set_guardrail(self.controls.guardrail);
        self.frame(&episode, true);
        let mut next_tick = Instant::now();
        let mut abandoned = false;
        for step in 1..=spec.task.episode_steps {
            // Commands: pause, single step, goals, toggles; anything that ends the episode.
            loop {
                self.pump();
                let c = &self.controls;
                if c.stop || c.reset || c.world.is_some() || c.reloaded {
                    abandoned = true;
                    break;
                }
                if let Some(goal) = self.controls.goal.take() {
                    match episode.set_goal(goal, pool) {
                        Ok(()) => self.frame(&episode, true),
                        Err(err) => self.tell(Event::Refused(err.to_string())),
                    }
                }
                episode.set_guardrail(self.controls.guardrail);
                if !self.controls.paused || std::mem::take(&mut self.controls.step_once) {
                    break;
                }
                next_tick = Instant::now();
                std::thread::sleep(Duration::from_millis(20));
            }
            if abandoned {
                break;
            }
            if let Some(speed) = self.controls.speed {
                let now = Instant::now();
                if next_tick > now {
                    std::thread::sleep(next_tick - now);
                }
                next_tick = next_tick.max(now) + episode.period.div_f64(speed);
            }
            let decision = match self.controls.teleop.take() {
                Some(action) => episode.drive(step, action),
                None => episode.plan(step, pool),
            };
            let action = Action(decision.taken);
            self.emit(Event::Decision(decision));
            let done = episode.take(step, action)?;
            self.frame(&episode, false);
            if done {
                break;
            }
        }
        self.controls.reset = false;
        let PracticeEpisode {
            record,
            mut outcome,
            ..
        } = episode;
        // What the actor did is data too: goal-directed episodes cross doors and press
        // against walls far more often than the random exploration does (and what a person
        // drove is data as well).
        outcome.handed_to_learner = self.config.practice_learning
            && !self.controls.stop
            && !record.actions.is_empty()
            && self.learner.add_episode(record);
        if !abandoned {
            outcome.minutes = self.started.elapsed().as_secs_f64() / 60.0;
            if outcome.planned {
                self.practice.push(outcome.clone());
            }
            self.tell(Event::EpisodeEnded(outcome));
        }
        Ok(())
    }

    /// The learner has stopped: the final fit and evaluation, when asked for.
    fn finish(mut self) -> Result<SessionReport, SessionError> {
        // Drain what the learner still says while it writes its last checkpoint.
        while !self.learner.is_finished() {
            self.pump();
            std::thread::sleep(Duration::from_millis(50));
        }
        self.pump();
        let Self {
            learner,
            config,
            spec,
            device,
            events,
            practice,
            started,
            controls,
            ..
        } = self;
        let learner = learner.join()?;
        let learning_s = started.elapsed().as_secs_f64();
        let evaluation = config.evaluation.clone().filter(|_| !controls.stop);
        let final_result = match evaluation {
            Some(evaluation) => {
                let _ =
                    events.send_timeout(Event::Phase(Phase::Evaluating), Duration::from_secs(1));
                Some(final_fit_and_eval(
                    &spec,
                    &config.planning,
                    config.seed,
                    &learner.checkpoint,
                    &evaluation,
                    &device,
                    &events,
                )?)
            }
            None => None,
        };
        let _ = events.send_timeout(Event::Phase(Phase::Finished), Duration::from_secs(1));
        Ok(SessionReport {
            learner,
            learning_s,
            practice,
            world: spec,
            final_result,
        })
    }

    /// Takes the commands and the learner's events that arrived.
    fn pump(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            self.obey(command);
        }
        while let Ok(event) = self.learner.events().try_recv() {
            match event {
                LearnerEvent::Filling { transitions } => self.emit(Event::Filling { transitions }),
                LearnerEvent::Step {
                    report,
                    samples_per_s,
                    progress,
                    replay_transitions,
                    ..
                } => self.emit(Event::Metrics(Metrics {
                    step: report,
                    samples_per_s,
                    progress,
                    replay_transitions,
                })),
                LearnerEvent::Checkpoint(path) => self.tell(Event::Checkpoint(path)),
                LearnerEvent::Loaded(path) => {
                    // Refit on the loaded weights and plan at once.
                    self.models = None;
                    self.plan_now = true;
                    self.controls.reloaded = true;
                    self.tell(Event::Loaded(path));
                }
                LearnerEvent::ControlFailed(why) => self.tell(Event::Refused(why)),
            }
        }
    }

    fn obey(&mut self, command: Command) {
        let c = &mut self.controls;
        match command {
            Command::Pause => c.paused = true,
            Command::Resume => c.paused = false,
            Command::Step => {
                c.paused = true;
                c.step_once = true;
            }
            Command::ResetEpisode => c.reset = true,
            Command::SetGoal(goal) => c.goal = Some(goal),
            Command::Teleop(action) if action.iter().all(|v| v.is_finite()) => {
                c.teleop = Some(action);
            }
            Command::Teleop(action) => self.tell(Event::Refused(format!(
                "teleop action {action:?} is not finite; send numbers within the world's action bounds"
            ))),
            Command::SetLearning(on) => {
                self.learner.control(LearnerControl::SetTraining(on));
            }
            Command::SetGuardrail(on) => c.guardrail = on,
            Command::SetSpeed(Speed::Times(factor)) if factor.is_finite() && factor > 0.0 => {
                c.speed = Some(factor);
            }
            Command::SetSpeed(Speed::Times(factor)) => self.tell(Event::Refused(format!(
                "speed factor {factor} must be a positive number (1 is real time)"
            ))),
            Command::SetSpeed(Speed::Unpaced) => c.speed = None,
            Command::SwitchWorld(spec) => {
                match check_camera(&spec, &self.config.train) {
                    Ok(()) => c.world = Some(spec),
                    Err(err) => self.tell(Event::Refused(err.to_string())),
                }
            }
            Command::SaveCheckpoint => {
                self.learner.control(LearnerControl::SaveCheckpoint);
            }
            Command::LoadCheckpoint(path) => {
                self.learner.control(LearnerControl::LoadCheckpoint(path));
            }
            Command::Stop => {
                c.stop = true;
                self.learner.request_stop();
            }
        }
    }

    /// Moves the simulator threads, the actor and its cost models to the world a command
    /// asked for.
    fn switch_world_if_asked(&mut self) -> Result<(), SessionError> {
        let Some(spec) = self.controls.world.take() else {
            return Ok(());
        };
        let switches = self.episodes_started + 1;
        let mut config = self.config.clone();
        config.world = Arc::clone(&spec);
        let stream = start_stream(&spec, &config, switches)?;
        self.learner.control(LearnerControl::ReplaceStream(stream));
        self.exploration = collect_exploration(
            &spec,
            self.config.planning.fit_episodes.clamp(2, 100),
            self.config.seed ^ EXPLORATION_SEED,
        )?;
        self.spec = Arc::clone(&spec);
        self.config.world = spec;
        self.models = None;
        self.tell(Event::WorldSwitched(self.spec.name.clone()));
        Ok(())
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != Some(phase) {
            self.phase = Some(phase);
            self.tell(Event::Phase(phase));
        }
    }

    /// Sends an event a slow reader may lose (frames, decisions, metrics): dropped once the
    /// queue is half full, so the others always find room.
    fn emit(&self, event: Event) {
        if self.events.len() < EVENT_QUEUE / 2 {
            let _ = self.events.try_send(event);
        }
    }

    /// Sends an event a reader should not lose; waits a little for room, never longer.
    fn tell(&self, event: Event) {
        let _ = self.events.send_timeout(event, Duration::from_millis(500));
    }

    /// The episode's newest frame, with its goal image when `with_goal` (it changed).
    fn frame(&self, episode: &PracticeEpisode<'_>, with_goal: bool) {
        let obs = &episode.obs;
        let (scene, goal_state) = episode.scene();
        self.emit(Event::Frame {
            size: obs.rgb.width as usize,
            rgb: obs.rgb.rgb.clone(),
            agent: obs.proprio,
            goal: with_goal.then(|| episode.goal_frame.rgb.clone()),
            goal_state,
            scene,
            episode_steps: episode.outcome.steps,
            hazard_entries: episode.outcome.hazard_entries,
        });
    }
}

/// Fits the cost models on the final checkpoint, saves them beside it and runs the
/// evaluation table.
fn final_fit_and_eval(
    spec: &Arc<WorldSpec>,
    planning: &PlanningConfig,
    seed: u64,
    checkpoint: &std::path::Path,
    evaluation: &super::FinalEvaluation,
    device: &Device,
    events: &Sender<Event>,
) -> Result<FinalResult, SessionError> {
    let progress = |what: String, done: f64| {
        if events.len() < EVENT_QUEUE / 2 {
            let _ = events.try_send(Event::Progress { what, done });
        }
    };
    let (model, train_config, checkpoint) = load_model(checkpoint, device)?;
    let fit_started = Instant::now();
    let (cost_models, notices) = fit_cost_models(spec, &model, planning, seed, device, &mut |p| {
        progress(p.to_string(), p.overall());
    })?;
    for notice in &notices {
        let _ = events.send_timeout(Event::Notice(notice.0.clone()), Duration::from_millis(500));
    }
    cost_models
        .save(&cost_models_dir(&checkpoint))
        .map_err(crate::pipeline::PipelineError::from)?;
    // The encoder everything was fitted on, with the predictor the planner imagines with.
    let model = cost_models.planning_model(&model);
    let fit_s = fit_started.elapsed().as_secs_f64();
    let eval_started = Instant::now();
    let settings = EvalSettings {
        episodes: evaluation.episodes,
        seeds: vec![evaluation.seed],
        planner: planning.planner(spec)?,
        cost: planning.cost(),
        baselines: evaluation.baselines,
        diagnostic_episodes: planning.diagnostic_episodes,
    };
    let graphs = PlannerGraph::build(
        &cost_models,
        planning,
        train_config.model.context_dims(),
        device,
    );
    let done = std::sync::atomic::AtomicUsize::new(0);
    let table = run_eval_table(
        spec,
        &model,
        &cost_models,
        &graphs,
        &settings,
        device,
        &|p| match p {
            EvalProgress::Episode { total } => {
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(
                    format!("evaluating: {n}/{total} episodes"),
                    n as f64 / total.max(1) as f64,
                );
            }
            EvalProgress::CostDiagnostic => progress("cost diagnostic".to_owned(), 1.0),
        },
    )?;
    Ok(FinalResult {
        checkpoint,
        model,
        cost_models,
        graphs,
        settings,
        table,
        notices,
        fit_s,
        eval_s: eval_started.elapsed().as_secs_f64(),
    })
}

/// Checks what the threads cannot check for themselves.
fn check(config: &SessionConfig) -> Result<(), SessionError> {
    if !(0.0..=1.0).contains(&config.explore_fraction) {
        return Err(SessionError::Config(format!(
            "the exploration share must lie in [0, 1], got {}",
            config.explore_fraction
        )));
    }
    if config.clock == Clock::Lockstep && !matches!(config.budget, Budget::LearnerSteps(_)) {
        return Err(SessionError::Config(
            "lockstep needs a budget of learner steps (kennel demo --learner-steps N)".to_owned(),
        ));
    }
    if let Budget::LearnerSteps(0) = config.budget {
        return Err(SessionError::Config(
            "the budget must be at least 1 learner step".to_owned(),
        ));
    }
    if let Some(evaluation) = &config.evaluation
        && evaluation.episodes == 0
    {
        return Err(SessionError::Config(
            "the final evaluation needs at least 1 episode".to_owned(),
        ));
    }
    config.planning.validate()?;
    Ok(())
}

/// The simulator threads feeding the learner: `config.envs` environments of `spec` with the
/// world's exploration, seeded from the session's seed (`generation` counts world switches).
fn start_stream(
    spec: &Arc<WorldSpec>,
    config: &SessionConfig,
    generation: u64,
) -> Result<TransitionStream, SessionError> {
    let envs = config.envs.max(1);
    let stream_seed = SeedSequence::new(config.seed).derive(u64::MAX - generation, 0);
    let vec_env = VecEnv::new(Arc::clone(spec), envs, stream_seed, 1)?;
    Ok(spawn(
        vec_env,
        SmoothRandomPolicy::for_world(spec, envs, stream_seed),
        StreamConfig {
            capacity: 8,
            ..StreamConfig::default()
        },
    )?)
}

/// Lockstep: the learner step the actor first plans at.
fn lockstep_plan_from(config: &SessionConfig) -> u64 {
    match config.budget {
        Budget::LearnerSteps(steps) => (config.explore_fraction * steps as f64).ceil() as u64,
        _ => 0,
    }
}
