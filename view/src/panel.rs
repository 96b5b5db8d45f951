//! The egui panels: a toolbar (pause, step, reset, speed, learning, guardrail, world,
//! checkpoint, help) and a side panel in sections — status, the agent's eye and the goal image
//! (the learner's 64×64 input, magnified nearest-neighbour), the learner's loss terms and
//! collapse indicators as live plots, the plan (guardrail rejections, cost per optimiser
//! iteration, time against the deadline) and the episode (steps, hazards, success rate).

use std::path::PathBuf;
use std::sync::Arc;

use agent::session::{Command, Phase, Speed};
use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, EguiTextureHandle, egui};
use sim::WorldSpec;

use crate::camera::ViewArea;
use crate::controls::{Interaction, SHORTCUTS};
use crate::link::{Live, Picture, Series};
use crate::overlay;

/// Width of the side panel, logical pixels.
const SIDE_WIDTH: f32 = 340.0;
/// Side of the magnified agent's-eye and goal images (64 × 2, nearest-neighbour).
const EYE_SIDE: f32 = 128.0;

/// Where each panel section was drawn last frame, logical pixels (for screenshots of one
/// panel).
#[derive(Resource, Clone, Debug, Default)]
pub struct PanelRects {
    /// `(section name, [min x, min y, max x, max y])`.
    pub sections: Vec<(&'static str, [f32; 4])>,
}

impl PanelRects {
    fn record(&mut self, name: &'static str, rect: egui::Rect) {
        let r = [rect.min.x, rect.min.y, rect.max.x, rect.max.y];
        match self.sections.iter_mut().find(|(n, _)| *n == name) {
            Some((_, at)) => *at = r,
            None => self.sections.push((name, r)),
        }
    }
}

/// The panels' own state: textures and text fields.
#[derive(Resource)]
struct PanelState {
    worlds: Vec<Arc<WorldSpec>>,
    world_file: String,
    checkpoint: String,
    eye: Option<PanelImage>,
    goal: Option<PanelImage>,
}

/// A picture shown in a panel: a Bevy image (sampled nearest-neighbour) that egui draws.
struct PanelImage {
    handle: Handle<Image>,
    id: egui::TextureId,
    size: usize,
    version: u64,
}

/// The toolbar, the side panel and the help window.
pub struct PanelPlugin {
    worlds: Vec<Arc<WorldSpec>>,
    checkpoint: Option<PathBuf>,
}

impl PanelPlugin {
    /// Panels offering `worlds` in the world menu, with `checkpoint` in the load field.
    pub fn new(worlds: Vec<Arc<WorldSpec>>, checkpoint: Option<PathBuf>) -> Self {
        Self { worlds, checkpoint }
    }
}

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(PanelState {
            worlds: self.worlds.clone(),
            world_file: String::new(),
            checkpoint: self
                .checkpoint
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            eye: None,
            goal: None,
        })
        .init_resource::<PanelRects>()
        .add_systems(EguiPrimaryContextPass, panels);
    }
}

/// `[size, size, 3]` RGB bytes as an sRGB RGBA image.
fn rgba_image(size: usize, rgb: &[u8]) -> Image {
    let data = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let mut image = Image::new(
        Extent3d {
            width: size as u32,
            height: size as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        data,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    image.sampler = ImageSampler::nearest();
    image
}

/// Copies `picture` into `slot`'s image when it changed; the texture to show.
fn texture(
    contexts: &mut EguiContexts,
    images: &mut Assets<Image>,
    slot: &mut Option<PanelImage>,
    picture: &Picture,
) -> Option<egui::TextureId> {
    if picture.size == 0 || picture.rgb.len() != picture.size * picture.size * 3 {
        return slot.as_ref().map(|s| s.id);
    }
    match slot {
        Some(shown) if shown.version == picture.version => {}
        Some(shown) if shown.size == picture.size => {
            if let Some(mut image) = images.get_mut(&shown.handle) {
                *image = rgba_image(picture.size, &picture.rgb);
            }
            shown.version = picture.version;
        }
        _ => {
            let handle = images.add(rgba_image(picture.size, &picture.rgb));
            let id = contexts.add_image(EguiTextureHandle::Strong(handle.clone()));
            *slot = Some(PanelImage {
                handle,
                id,
                size: picture.size,
                version: picture.version,
            });
        }
    }
    slot.as_ref().map(|s| s.id)
}

fn colour(c: Color) -> egui::Color32 {
    let c = c.to_srgba();
    egui::Color32::from_rgb(
        (c.red * 255.0) as u8,
        (c.green * 255.0) as u8,
        (c.blue * 255.0) as u8,
    )
}

/// A small line plot of `values` with its label and newest value.
fn sparkline(ui: &mut egui::Ui, label: &str, values: &[f64], stroke: egui::Color32) {
    let newest = values.last().copied();
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(label).small());
        if let Some(v) = newest {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.monospace(egui::RichText::new(format!("{v:.4}")).small());
            });
        }
    });
    let (rect, _) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 20.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    if values.len() == 1 {
        // One point (one optimiser iteration): a level line.
        let y = rect.center().y;
        painter.line_segment(
            [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
            egui::Stroke::new(1.5, stroke),
        );
    }
    if values.len() < 2 {
        return;
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = (hi - lo).max(1e-12);
    let n = (values.len() - 1) as f32;
    let points: Vec<egui::Pos2> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = rect.left() + rect.width() * i as f32 / n;
            let y = rect.bottom() - 2.0 - (rect.height() - 4.0) * ((v - lo) / span) as f32;
            egui::pos2(x, y)
        })
        .collect();
    painter.add(egui::Shape::line(points, egui::Stroke::new(1.5, stroke)));
}

fn series_values(series: &Series) -> Vec<f64> {
    series.points.iter().map(|p| p[1]).collect()
}

fn phase_text(live: &Live) -> (String, egui::Color32) {
    let learning = if live.asked.learning {
        ""
    } else {
        " (learning off)"
    };
    let (text, c) = match (live.phase, live.filling) {
        (_, Some(n)) => (
            format!("filling the replay buffer ({n} transitions)"),
            egui::Color32::LIGHT_BLUE,
        ),
        (None, _) => ("starting".into(), egui::Color32::GRAY),
        (Some(Phase::Exploring), _) => (
            "exploring: random walk, learning".into(),
            egui::Color32::LIGHT_BLUE,
        ),
        (Some(Phase::Fitting), _) => (
            "fitting the cost models on new weights".into(),
            egui::Color32::YELLOW,
        ),
        (Some(Phase::Practising), _) => (
            "planning to goals while learning".into(),
            egui::Color32::LIGHT_GREEN,
        ),
        (Some(Phase::Evaluating), _) => ("evaluating".into(), egui::Color32::YELLOW),
        (Some(Phase::Finished), _) => ("finished".into(), egui::Color32::GRAY),
    };
    (format!("{text}{learning}"), c)
}

#[allow(clippy::too_many_lines)]
fn panels(
    mut contexts: EguiContexts,
    mut images: ResMut<Assets<Image>>,
    mut live: ResMut<Live>,
    mut state: ResMut<PanelState>,
    mut rects: ResMut<PanelRects>,
    mut area: ResMut<ViewArea>,
    mut interaction: ResMut<Interaction>,
) -> Result {
    // Pictures first: registering an image needs the contexts, drawing needs the context.
    let state = &mut *state;
    let eye_tex = texture(&mut contexts, &mut images, &mut state.eye, &live.eye);
    let goal_tex = texture(
        &mut contexts,
        &mut images,
        &mut state.goal,
        &live.goal_image,
    );
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "kennel-view".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let mut commands: Vec<Command> = Vec::new();

    // The toolbar.
    let top = egui::Panel::top("toolbar").show(&mut root, |ui| {
        ui.horizontal_wrapped(|ui| {
            let paused = live.asked.paused;
            if ui
                .button(if paused { "▶ Resume" } else { "⏸ Pause" })
                .clicked()
            {
                commands.push(if paused {
                    Command::Resume
                } else {
                    Command::Pause
                });
            }
            if ui.button("Step").clicked() {
                commands.push(Command::Step);
            }
            if ui.button("Reset").clicked() {
                commands.push(Command::ResetEpisode);
            }
            ui.separator();
            ui.label("speed");
            for (label, speed) in [
                ("1×", Speed::Times(1.0)),
                ("4×", Speed::Times(4.0)),
                ("max", Speed::Unpaced),
            ] {
                if ui
                    .selectable_label(live.asked.speed == speed, label)
                    .clicked()
                {
                    commands.push(Command::SetSpeed(speed));
                }
            }
            ui.separator();
            let mut learning = live.asked.learning;
            if ui.checkbox(&mut learning, "learning").changed() {
                commands.push(Command::SetLearning(learning));
            }
            let mut guardrail = live.asked.guardrail;
            if ui.checkbox(&mut guardrail, "guardrail").changed() {
                commands.push(Command::SetGuardrail(guardrail));
            }
            ui.separator();
            egui::ComboBox::from_id_salt("world")
                .selected_text(format!("world: {}", live.world))
                .show_ui(ui, |ui| {
                    for spec in &state.worlds {
                        if ui
                            .selectable_label(spec.name == live.world, spec.name.as_str())
                            .clicked()
                        {
                            commands.push(Command::SwitchWorld(Arc::clone(spec)));
                        }
                    }
                });
            ui.add(
                egui::TextEdit::singleline(&mut state.world_file)
                    .hint_text("world file…")
                    .desired_width(110.0),
            );
            if ui.button("Open").clicked() && !state.world_file.is_empty() {
                match WorldSpec::from_json_file(state.world_file.trim()) {
                    Ok(spec) => commands.push(Command::SwitchWorld(Arc::new(spec))),
                    Err(err) => live.say(format!("refused: {err}")),
                }
            }
            ui.separator();
            if ui.button("Save checkpoint").clicked() {
                commands.push(Command::SaveCheckpoint);
            }
            if state.checkpoint.is_empty()
                && let Some(path) = &live.checkpoint
            {
                state.checkpoint = path.display().to_string();
            }
            ui.add(
                egui::TextEdit::singleline(&mut state.checkpoint)
                    .hint_text("checkpoint…")
                    .desired_width(110.0),
            );
            if ui.button("Load").clicked() && !state.checkpoint.is_empty() {
                commands.push(Command::LoadCheckpoint(PathBuf::from(
                    state.checkpoint.trim(),
                )));
            }
            ui.separator();
            if ui.button("? Help").clicked() {
                interaction.show_help = !interaction.show_help;
            }
        });
    });
    rects.record("toolbar", top.response.rect);

    // The side panel.
    let side = egui::Panel::right("side")
        .exact_size(SIDE_WIDTH)
        .resizable(false)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let status = ui.vertical(|ui| {
                    ui.heading(format!("kennel · {}", live.world));
                    let (text, c) = phase_text(&live);
                    ui.colored_label(c, text);
                    match &live.metrics {
                        Some(m) => ui.label(format!(
                            "learner step {} · {:.0} frames/s · replay {:.1}k",
                            m.step.step,
                            m.samples_per_s,
                            m.replay_transitions as f64 / 1e3
                        )),
                        None => ui.label("learner: waiting for its first step"),
                    };
                    let speed = match live.asked.speed {
                        Speed::Times(1.0) => "real time".to_string(),
                        Speed::Times(f) => format!("×{f}"),
                        Speed::Unpaced => "as fast as possible".into(),
                    };
                    let paused = if live.asked.paused { "paused · " } else { "" };
                    ui.label(format!(
                        "{paused}{speed} · guardrail {}",
                        if live.asked.guardrail { "on" } else { "off" }
                    ));
                });
                rects.record("status", status.response.rect);
                ui.separator();

                let eye = ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.add_sized(
                            [EYE_SIDE, 14.0],
                            egui::Label::new(egui::RichText::new("agent's eye (64×64)").strong()),
                        );
                        ui.add_sized(
                            [EYE_SIDE, 14.0],
                            egui::Label::new(egui::RichText::new("goal image").strong()),
                        );
                    });
                    ui.horizontal(|ui| {
                        for tex in [eye_tex, goal_tex] {
                            match tex {
                                Some(id) => {
                                    ui.image((id, egui::vec2(EYE_SIDE, EYE_SIDE)));
                                }
                                None => {
                                    ui.allocate_exact_size(
                                        egui::vec2(EYE_SIDE, EYE_SIDE),
                                        egui::Sense::hover(),
                                    );
                                }
                            }
                        }
                    });
                });
                rects.record("eye", eye.response.rect);
                ui.separator();

                let learner = ui.vertical(|ui| {
                    ui.label(egui::RichText::new("learner").strong());
                    let h = &live.history;
                    let palette = [
                        egui::Color32::LIGHT_BLUE,
                        egui::Color32::LIGHT_RED,
                        egui::Color32::LIGHT_GREEN,
                        egui::Color32::LIGHT_YELLOW,
                        egui::Color32::from_rgb(200, 150, 255),
                        egui::Color32::from_rgb(255, 150, 200),
                    ];
                    // Collapse indicators first, then the loss and its terms.
                    let mut plots: Vec<(&str, Vec<f64>, egui::Color32)> = vec![
                        (
                            "latent std (collapse: to 0)",
                            series_values(&h.latent_std),
                            egui::Color32::from_rgb(255, 180, 80),
                        ),
                        (
                            "effective rank (to 1)",
                            series_values(&h.effective_rank),
                            egui::Color32::from_rgb(120, 220, 200),
                        ),
                        ("loss", series_values(&h.loss), egui::Color32::WHITE),
                    ];
                    for (i, (name, series)) in h.parts.iter().enumerate() {
                        plots.push((name, series_values(series), palette[i % palette.len()]));
                    }
                    let column = (ui.available_width() - 8.0) / 2.0;
                    for pair in plots.chunks(2) {
                        ui.horizontal(|ui| {
                            for (name, values, c) in pair {
                                ui.vertical(|ui| {
                                    ui.set_width(column);
                                    sparkline(ui, name, values, *c);
                                });
                            }
                        });
                    }
                });
                rects.record("learner", learner.response.rect);
                ui.separator();

                let plan = ui.vertical(|ui| {
                    ui.label(egui::RichText::new("plan").strong());
                    match &live.decision {
                        None => {
                            ui.label("no decision yet");
                        }
                        Some(d) if d.teleop => {
                            ui.colored_label(
                                colour(overlay::TELEOP),
                                format!("driven by hand: action ({:.2}, {:.2})", d.taken[0], d.taken[1]),
                            );
                        }
                        Some(d) if d.evaluated == 0 => {
                            ui.label("random walk: no model fitted yet (drive with WASD)");
                        }
                        Some(d) => {
                            ui.label(format!(
                                "{} candidates evaluated, {} rejected by the guardrail",
                                d.evaluated, d.rejected
                            ));
                            if d.all_rejected {
                                ui.colored_label(
                                    colour(overlay::ALL_REJECTED),
                                    "ALL REJECTED: the guardrail rejected every candidate; the safest was taken",
                                );
                            }
                            let deadline = if d.deadline_ms > 0.0 {
                                format!("deadline {:.0} ms", d.deadline_ms)
                            } else {
                                "fixed budget".into()
                            };
                            let missed = if d.missed_deadline { " · MISSED" } else { "" };
                            ui.label(format!("decided in {:.1} ms ({deadline}){missed}", d.elapsed_ms));
                            let costs: Vec<f64> = d
                                .cost_per_iteration
                                .iter()
                                .filter(|c| c.is_finite())
                                .map(|&c| f64::from(c))
                                .collect();
                            sparkline(ui, "best cost per iteration", &costs, colour(overlay::IMAGINED));
                            ui.colored_label(
                                colour(overlay::IMAGINED),
                                format!(
                                    "imagined path: {} positions read off the latents",
                                    d.imagined_positions.len()
                                ),
                            );
                        }
                    }
                });
                rects.record("plan", plan.response.rect);
                ui.separator();

                let episode = ui.vertical(|ui| {
                    ui.label(egui::RichText::new("episode").strong());
                    let [steps, hazards] = live.episode;
                    ui.label(format!("step {steps} · hazard entries {hazards}"));
                    let (n, wins) = live.success();
                    if n == 0 {
                        ui.label("success: no planned episode has ended yet");
                    } else {
                        let recent: Vec<bool> = live
                            .outcomes
                            .iter()
                            .filter(|o| o.planned)
                            .rev()
                            .take(20)
                            .map(|o| o.success)
                            .collect();
                        let recent_wins = recent.iter().filter(|&&s| s).count();
                        ui.label(format!(
                            "success {wins}/{n} ({:.0}%) · last {}: {:.0}%",
                            100.0 * wins as f64 / n as f64,
                            recent.len(),
                            100.0 * recent_wins as f64 / recent.len() as f64
                        ));
                    }
                    ui.horizontal(|ui| {
                        ui.colored_label(colour(overlay::TAKEN), "— taken");
                        ui.colored_label(colour(overlay::IMAGINED), "— imagined");
                        ui.colored_label(colour(overlay::GOAL), "○ goal");
                    });
                });
                rects.record("episode", episode.response.rect);
                ui.separator();
                for message in &live.messages {
                    ui.label(egui::RichText::new(message).small());
                }
            });
        });
    rects.record("side", side.response.rect);
    area.margins = [
        0.0,
        top.response.rect.height(),
        side.response.rect.width(),
        0.0,
    ];

    if interaction.show_help {
        let mut open = true;
        egui::Window::new("Shortcuts")
            .open(&mut open)
            .collapsible(false)
            .anchor(
                egui::Align2::CENTER_CENTER,
                egui::vec2(-SIDE_WIDTH / 2.0, 0.0),
            )
            .show(&ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (keys, what) in SHORTCUTS {
                        ui.monospace(*keys);
                        ui.label(*what);
                        ui.end_row();
                    }
                });
            });
        interaction.show_help &= open;
    }
    for command in commands {
        live.send(command);
    }
    Ok(())
}
