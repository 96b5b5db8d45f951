//! `VecEnv`: many environments of one world stepped together over a thread pool.

use std::sync::Arc;

use rayon::prelude::*;

use crate::{Action, Env, Info, Observation, SeedSequence, SimError, Step, WorldSpec};

struct Slot {
    env: Env,
    /// Index of the current episode of this environment (its seed's counter).
    episode: u64,
    /// The last step ended the episode: the next `step` resets instead.
    done: bool,
}

/// `N` environments of one world, stepped in a batch on a thread pool of `T` threads.
///
/// **Seeds**: episode `e` of environment `i` uses `SeedSequence::new(master).episode_seed(i, e)`,
/// so results do not depend on `T` or on the order threads run in.
///
/// **Autoreset** follows Gymnasium's *next-step* mode: the step that ends an episode
/// (`terminated` or `truncated`) returns that episode's last observation; the *next* call to
/// [`step`](Self::step) ignores that environment's action, starts its next episode and returns
/// the new first observation with `reward = 0`, `terminated = truncated = false` and
/// `info.is_first = true`. Such a step is not a transition and learners must skip it
/// ([`crate::stream`] does).
pub struct VecEnv {
    slots: Vec<Slot>,
    seeds: SeedSequence,
    pool: rayon::ThreadPool,
}

impl VecEnv {
    /// `num_envs` environments of `spec` on `threads` worker threads (0 = one per core).
    pub fn new(
        spec: Arc<WorldSpec>,
        num_envs: usize,
        master_seed: u64,
        threads: usize,
    ) -> Result<Self, SimError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kennel-sim-{i}"))
            .build()
            .map_err(|err| SimError::ThreadPool {
                threads,
                message: err.to_string(),
            })?;
        let slots = (0..num_envs)
            .map(|_| Slot {
                env: Env::new(Arc::clone(&spec)),
                episode: 0,
                done: false,
            })
            .collect();
        Ok(Self {
            slots,
            seeds: SeedSequence::new(master_seed),
            pool,
        })
    }

    /// Number of environments.
    pub fn num_envs(&self) -> usize {
        self.slots.len()
    }

    /// Number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The environments, e.g. to render goal images.
    pub fn envs_mut(&mut self) -> impl Iterator<Item = &mut Env> {
        self.slots.iter_mut().map(|slot| &mut slot.env)
    }

    /// Starts episode 0 of every environment.
    pub fn reset(&mut self) -> Result<Vec<(Observation, Info)>, SimError> {
        let seeds = self.seeds;
        self.pool.install(|| {
            self.slots
                .par_iter_mut()
                .enumerate()
                .map(|(i, slot)| {
                    slot.episode = 0;
                    slot.done = false;
                    slot.env.reset(seeds.episode_seed(i, 0))
                })
                .collect()
        })
    }

    /// Steps every environment with its action (see the type's docs for autoreset).
    pub fn step(&mut self, actions: &[Action]) -> Result<Vec<Step>, SimError> {
        if actions.len() != self.slots.len() {
            return Err(SimError::ActionCount {
                expected: self.slots.len(),
                got: actions.len(),
            });
        }
        let seeds = self.seeds;
        self.pool.install(|| {
            self.slots
                .par_iter_mut()
                .zip(actions.par_iter())
                .enumerate()
                .map(|(i, (slot, action))| {
                    if slot.done {
                        slot.episode += 1;
                        slot.done = false;
                        let (obs, info) = slot.env.reset(seeds.episode_seed(i, slot.episode))?;
                        return Ok(Step {
                            obs,
                            reward: 0.0,
                            terminated: false,
                            truncated: false,
                            info,
                        });
                    }
                    let step = slot.env.step(action)?;
                    slot.done = step.terminated || step.truncated;
                    Ok(step)
                })
                .collect()
        })
    }
}
