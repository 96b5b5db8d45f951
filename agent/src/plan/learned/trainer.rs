//! The fit every small learned part shares: its module on an autodiff device, stepped by AdamW.

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// A module being fitted: the module on an autodiff device and its optimiser (AdamW).
pub(crate) struct SmallTrainer<M> {
    /// The autodiff device the module lives on.
    device: Device,
    /// The module; `None` only while the optimiser steps it.
    module: Option<M>,
    optimizer: ModuleOptimizer,
}

impl<M: Module> SmallTrainer<M> {
    /// A module built by `init` on `device` made autodiff, stepped by AdamW at its defaults.
    pub(crate) fn new(device: &Device, init: impl FnOnce(&Device) -> M) -> Self {
        Self::with_optimizer(device, init, AdamWConfig::new().init())
    }

    /// [`new`](Self::new) with another optimiser.
    pub(crate) fn with_optimizer(
        device: &Device,
        init: impl FnOnce(&Device) -> M,
        optimizer: ModuleOptimizer,
    ) -> Self {
        let device = device.clone().autodiff();
        let module = init(&device);
        Self {
            device,
            module: Some(module),
            optimizer,
        }
    }

    /// The autodiff device: where the loss's inputs go.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// The module as fitted so far (tracked, for the loss).
    pub(crate) fn module(&self) -> &M {
        self.module
            .as_ref()
            .expect("the module is back after every step")
    }

    /// One step down `loss` at `learning_rate`; returns the loss before the step.
    pub(crate) fn step(&mut self, loss: Tensor<1>, learning_rate: f64) -> f32 {
        let value = loss.clone().into_scalar::<f32>();
        self.descend(loss, learning_rate);
        value
    }

    /// One step down `loss` at `learning_rate`, without reading the loss.
    pub(crate) fn descend(&mut self, loss: Tensor<1>, learning_rate: f64) {
        let grads = GradientsParams::from_grads(loss.backward(), self.module());
        let module = self
            .module
            .take()
            .expect("the module is back after every step");
        self.module = Some(self.optimizer.step(learning_rate, module, grads));
    }

    /// An inference copy of the module.
    pub(crate) fn valid(&self) -> M {
        self.module().valid()
    }
}
