//! `kennel grid`: the seed grid, the measure of every claim about learning. For each seed a
//! lockstep `kennel demo` (the same learner-step budget, so runs differ by their seed alone),
//! then `kennel eval --variants` on its checkpoint; then, for the world and each variant, the
//! mean, spread and 95% interval of success over the seeds. Each step runs as a child process
//! and writes its own files, so an interrupted grid resumes where it stopped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;

use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct GridArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Seeds of the grid, comma-separated (each a `kennel demo --seed`).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Learner steps of each demo (lockstep); 1300 is about what the default 10-minute demo
    /// takes on a 2-core machine.
    #[arg(long, default_value_t = 1300)]
    learner_steps: u64,
    /// Episodes on the world itself per seed.
    #[arg(long, default_value_t = 200)]
    episodes: usize,
    /// Episodes on each variant per seed.
    #[arg(long, default_value_t = 100)]
    variant_episodes: usize,
    /// Variants to evaluate on: `shipped` (worlds/variants/<world>.json), a variant file, or
    /// `none` for the world alone.
    #[arg(long, default_value = "shipped")]
    variants: String,
    /// Only these variants, comma-separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Grid folder: seed-<S>/ (the demo's run folder, with variants.json) and grid.json.
    #[arg(long, default_value = "runs/grid")]
    out: PathBuf,
    /// Extra flags for every demo, e.g. "--context-dims 8" (split at spaces).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    demo_args: String,
    /// Extra flags for every evaluation, e.g. "--deadline-ms 0" (split at spaces).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    eval_args: String,
    /// Print grid.json instead of the table.
    #[arg(long)]
    json: bool,
}

/// Two-sided 97.5% quantiles of Student's t for 1..=30 degrees of freedom (then 1.96).
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Mean, spread and 95% interval of one figure over seeds (seeds where it is not a number,
/// such as a success ratio to an in-distribution success of 0, are left out and counted).
#[derive(Clone, Debug, Serialize)]
pub struct OverSeeds {
    /// Per seed that has it, in the grid's order.
    pub values: Vec<f64>,
    /// Seeds left out because the figure was not a number there.
    pub undefined: usize,
    /// Their mean.
    pub mean: f64,
    /// Sample standard deviation (0 with one seed).
    pub sd: f64,
    /// 95% interval of the mean (Student's t); the mean itself with one seed.
    pub ci95: [f64; 2],
    /// Smallest and largest.
    pub range: [f64; 2],
}

impl OverSeeds {
    pub fn new(values: Vec<f64>) -> Self {
        let all = values.len();
        let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        let undefined = all - values.len();
        if values.is_empty() {
            return Self {
                values,
                undefined,
                mean: f64::NAN,
                sd: f64::NAN,
                ci95: [f64::NAN; 2],
                range: [f64::NAN; 2],
            };
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        let t = T_975
            .get(values.len().saturating_sub(2))
            .copied()
            .unwrap_or(1.96);
        let half = if values.len() > 1 {
            t * sd / n.sqrt()
        } else {
            0.0
        };
        let range = [
            values.iter().copied().fold(f64::INFINITY, f64::min),
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ];
        Self {
            values,
            undefined,
            mean,
            sd,
            ci95: [mean - half, mean + half],
            range,
        }
    }
}

/// One world's row of the grid.
#[derive(Clone, Debug, Serialize)]
pub struct GridRow {
    pub name: String,
    /// The seeds whose evaluation has this row.
    pub seeds: Vec<u64>,
    pub reach: String,
    pub held_out: bool,
    /// Success rate per seed and over seeds.
    pub success: OverSeeds,
    /// Success relative to the same seed's in-distribution success.
    pub relative_success: OverSeeds,
    /// All seeds' episodes together: successes of episodes.
    pub successes: u64,
    pub episodes: u64,
    /// Hazard entries over all seeds' episodes.
    pub hazard_entries: u64,
    /// The cost diagnostic's ρ per seed and over seeds.
    pub cost_spearman: OverSeeds,
}

/// The grid's result, written to grid.json.
#[derive(Clone, Debug, Serialize)]
pub struct GridReport {
    pub world: String,
    pub seeds: Vec<u64>,
    pub learner_steps: u64,
    /// Episodes on the world itself per seed.
    pub episodes: usize,
    /// Episodes on each variant per seed.
    pub variant_episodes: usize,
    /// Practice success over the second half of each demo's planned practice episodes.
    pub practice_success: OverSeeds,
    pub rows: Vec<GridRow>,
}

fn split_flags(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Runs `kennel ARGS`, its standard error going to `log` (and with `stdout_to_log`, its
/// standard output too); an error names the command and the log.
fn kennel(
    args: &[String],
    log: &Path,
    stdout_to_log: bool,
) -> anyhow::Result<std::process::Output> {
    let exe = std::env::current_exe().context("cannot find the kennel binary")?;
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let mut command = Command::new(&exe);
    command.args(args).stderr(file.try_clone()?);
    if stdout_to_log {
        command.stdout(file);
    }
    let output = command
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    if !output.status.success() {
        bail!(
            "`kennel {}` failed ({}); its log: {}",
            args.join(" "),
            output.status,
            log.display()
        );
    }
    Ok(output)
}

pub fn run(args: &GridArgs) -> anyhow::Result<()> {
    if args.seeds.is_empty() {
        bail!("--seeds needs at least one seed, e.g. --seeds 0,1,2");
    }
    if args.episodes == 0 || args.variant_episodes == 0 || args.learner_steps == 0 {
        bail!("--episodes, --variant-episodes and --learner-steps must be at least 1");
    }
    let spec = load_world(&args.world)?;
    if args.variants != "none" {
        // Fail now, not after the first demo, on a variant file that does not fit.
        crate::world_files::load_variants(&spec, &args.variants, &args.only)?;
    } else if !args.only.is_empty() {
        bail!("--only picks variants, but --variants none asks for none");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut evaluations = Vec::new();
    for (i, seed) in args.seeds.iter().enumerate() {
        let run = args.out.join(format!("seed-{seed}"));
        let tag = format!("[{}/{}] seed {seed}", i + 1, args.seeds.len());
        let demo = demo_command(args, *seed, &run);
        // What each step was run with, beside its result: a result made with other settings
        // is not this grid's.
        let demo_stamp = args.out.join(format!("seed-{seed}.demo.args"));
        if run.join("report.json").exists() {
            let stamped = std::fs::read_to_string(&demo_stamp).unwrap_or_default();
            if stamped != demo.join("\n") {
                bail!(
                    "{} holds a demo run with other settings than this grid's (see {}); pass another --out, or move that run away to redo it",
                    run.display(),
                    demo_stamp.display()
                );
            }
            eprintln!("{tag}: the demo is done ({}), skipping it", run.display());
        } else {
            if run.exists() {
                // An interrupted demo cannot be continued; keep it aside, never delete it.
                let aside = (1..)
                    .map(|k| args.out.join(format!("seed-{seed}.interrupted-{k}")))
                    .find(|p| !p.exists())
                    .context("no free name for an interrupted run")?;
                std::fs::rename(&run, &aside).with_context(|| {
                    format!("cannot move the interrupted run {} aside", run.display())
                })?;
                eprintln!("{tag}: moved an interrupted demo to {}", aside.display());
            }
            let log = args.out.join(format!("seed-{seed}.demo.log"));
            eprintln!(
                "{tag}: kennel demo --learner-steps {} (log: {})",
                args.learner_steps,
                log.display()
            );
            std::fs::write(&demo_stamp, demo.join("\n"))
                .with_context(|| format!("cannot write {}", demo_stamp.display()))?;
            kennel(&demo, &log, true)?;
        }
        let variants_json = run.join("variants.json");
        let eval = eval_command(args, *seed, &run);
        let eval_stamp = args.out.join(format!("seed-{seed}.eval.args"));
        let current = std::fs::read_to_string(&eval_stamp).is_ok_and(|s| s == eval.join("\n"));
        if variants_json.exists() && current {
            eprintln!("{tag}: the evaluation is done, skipping it");
        } else {
            if variants_json.exists() {
                eprintln!(
                    "{tag}: {} was made with other evaluation settings; evaluating again",
                    variants_json.display()
                );
            }
            eprintln!(
                "{tag}: kennel eval --variants {} ({} episodes on the world, {} on each variant)",
                args.variants, args.episodes, args.variant_episodes
            );
            let log = args.out.join(format!("seed-{seed}.eval.log"));
            let output = kennel(&eval, &log, false)?;
            // Written whole once the evaluation is done, so a file present is a finished one.
            let tmp = run.join("variants.json.tmp");
            std::fs::write(&tmp, &output.stdout)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &variants_json)?;
            std::fs::write(&eval_stamp, eval.join("\n"))
                .with_context(|| format!("cannot write {}", eval_stamp.display()))?;
        }
        evaluations.push((*seed, run));
    }
    let report = aggregate(args, &spec.name, &evaluations)?;
    let path = args.out.join("grid.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The `kennel demo` of one seed.
fn demo_command(args: &GridArgs, seed: u64, run: &Path) -> Vec<String> {
    let mut demo: Vec<String> = vec![
        "demo".into(),
        "--world".into(),
        args.world.clone(),
        "--learner-steps".into(),
        args.learner_steps.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--out".into(),
        run.display().to_string(),
        "--no-baselines".into(),
    ];
    demo.extend(split_flags(&args.demo_args));
    demo
}

/// The `kennel eval --variants` of one seed's run, on master seed `seed + 1000` (that of the
/// demo's own evaluation).
fn eval_command(args: &GridArgs, seed: u64, run: &Path) -> Vec<String> {
    let mut eval: Vec<String> = vec![
        "eval".into(),
        "--world".into(),
        args.world.clone(),
        "--checkpoint".into(),
        run.display().to_string(),
        "--episodes".into(),
        args.episodes.to_string(),
        "--seeds".into(),
        seed.wrapping_add(1000).to_string(),
        "--no-baselines".into(),
        "--json".into(),
        "--variants".into(),
        args.variants.clone(),
    ];
    if args.variants != "none" {
        eval.extend([
            "--variant-episodes".into(),
            args.variant_episodes.to_string(),
        ]);
        if !args.only.is_empty() {
            eval.extend(["--only".into(), args.only.join(",")]);
        }
    }
    eval.extend(split_flags(&args.eval_args));
    eval
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON; delete it and run the grid again to redo that step",
            path.display()
        )
    })
}

fn aggregate(args: &GridArgs, world: &str, runs: &[(u64, PathBuf)]) -> anyhow::Result<GridReport> {
    let mut practice = Vec::new();
    // name -> (reach, held_out, per seed: (seed, [rate, relative, successes, episodes,
    // hazards, rho]))
    type Figures = (u64, [f64; 6]);
    let mut by_world: Vec<(String, String, bool, Vec<Figures>)> = Vec::new();
    for (seed, run) in runs {
        let report = read_json(&run.join("report.json"))?;
        // Planned practice episodes only (not the wandering before the first fit).
        let episodes: Vec<serde_json::Value> = report["practice"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["planned"] != false)
            .collect();
        let late = &episodes[episodes.len() / 2..];
        if !late.is_empty() {
            let wins = late.iter().filter(|e| e["success"] == true).count();
            practice.push(wins as f64 / late.len() as f64);
        }
        let table = read_json(&run.join("variants.json"))?;
        let rows = table["variants"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            bail!(
                "{} holds no rows; delete it and run the grid again (seed {seed})",
                run.join("variants.json").display()
            );
        }
        for row in rows {
            let name = row["name"].as_str().unwrap_or_default().to_owned();
            let learned = &row["learned"];
            let figures = [
                learned["success_rate"].as_f64().unwrap_or(f64::NAN),
                row["relative_success"].as_f64().unwrap_or(f64::NAN),
                learned["successes"].as_f64().unwrap_or(0.0),
                learned["episodes"].as_f64().unwrap_or(0.0),
                learned["hazard_entries"].as_f64().unwrap_or(0.0),
                learned["cost_spearman"].as_f64().unwrap_or(f64::NAN),
            ];
            match by_world.iter_mut().find(|(n, ..)| *n == name) {
                Some((.., seeds)) => seeds.push((*seed, figures)),
                None => by_world.push((
                    name,
                    row["reach"].as_str().unwrap_or_default().to_owned(),
                    row["held_out"].as_bool().unwrap_or(false),
                    vec![(*seed, figures)],
                )),
            }
        }
    }
    let rows = by_world
        .into_iter()
        .map(|(name, reach, held_out, seeds)| {
            let column = |i: usize| seeds.iter().map(|(_, f)| f[i]).collect::<Vec<_>>();
            GridRow {
                name,
                seeds: seeds.iter().map(|(seed, _)| *seed).collect(),
                reach,
                held_out,
                success: OverSeeds::new(column(0)),
                relative_success: OverSeeds::new(column(1)),
                successes: column(2).iter().sum::<f64>() as u64,
                episodes: column(3).iter().sum::<f64>() as u64,
                hazard_entries: column(4).iter().sum::<f64>() as u64,
                cost_spearman: OverSeeds::new(column(5)),
            }
        })
        .collect();
    Ok(GridReport {
        world: world.to_owned(),
        seeds: args.seeds.clone(),
        learner_steps: args.learner_steps,
        episodes: args.episodes,
        variant_episodes: args.variant_episodes,
        practice_success: OverSeeds::new(practice),
        rows,
    })
}

/// The grid as a Markdown table (so it can be pasted into docs/results/ as it is).
fn render(report: &GridReport) -> String {
    let pct = |v: f64| {
        if v.is_finite() {
            format!("{:.1}%", 100.0 * v)
        } else {
            "–".to_owned()
        }
    };
    let mut out = format!(
        "{} · seeds {:?} · {} learner steps (lockstep) · per seed {} episodes on the world, {} on each variant\n\n",
        report.world, report.seeds, report.learner_steps, report.episodes, report.variant_episodes
    );
    out += "| world | reach | seeds | success, mean over seeds | 95% CI of the mean (t) | per seed | all episodes (Wilson 95%) | vs in-distribution | hazard entries | cost ρ |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|\n";
    for row in &report.rows {
        let [lo, hi] = agent::eval::wilson_interval(row.successes as usize, row.episodes as usize);
        let mean_ci = if row.success.values.len() > 1 {
            format!(
                "{}–{}",
                pct(row.success.ci95[0].max(0.0)),
                pct(row.success.ci95[1].min(1.0))
            )
        } else {
            "– (one seed)".to_owned()
        };
        out += &format!(
            "| {} | {}{} | {}/{} | {} | {} | {} | {}/{} ({}–{}) | {:.2} | {} | {:.3} |\n",
            row.name,
            row.reach,
            if row.held_out { " (held out)" } else { "" },
            row.seeds.len(),
            report.seeds.len(),
            pct(row.success.mean),
            mean_ci,
            row.success
                .values
                .iter()
                .map(|v| pct(*v))
                .collect::<Vec<_>>()
                .join(", "),
            row.successes,
            row.episodes,
            pct(lo),
            pct(hi),
            row.relative_success.mean,
            row.hazard_entries,
            row.cost_spearman.mean,
        );
    }
    let p = &report.practice_success;
    out += &format!(
        "\npractice success (second half of each demo's planned practice episodes): {} mean, per seed {}\n",
        pct(p.mean),
        p.values
            .iter()
            .map(|v| pct(*v))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // A seed whose learned cost ranks its own world poorly learned a poor latent: say which.
    // (A seed without a ρ is left out of the values: then they no longer line up with seeds.)
    if let Some(world) = report
        .rows
        .first()
        .filter(|w| w.cost_spearman.undefined == 0)
    {
        for (seed, rho) in world.seeds.iter().zip(&world.cost_spearman.values) {
            if *rho < agent::pipeline::POOR_COST_SPEARMAN {
                out += &format!(
                    "seed {seed} learned a poor latent: its cost ρ on {} is {rho:.3}, below {}\n",
                    world.name,
                    agent::pipeline::POOR_COST_SPEARMAN
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{GridReport, GridRow, OverSeeds, render};

    fn row(name: &str, success: Vec<f64>, rho: Vec<f64>) -> GridRow {
        GridRow {
            name: name.to_owned(),
            seeds: vec![0, 1, 2],
            reach: "trained".to_owned(),
            held_out: false,
            success: OverSeeds::new(success.clone()),
            relative_success: OverSeeds::new(vec![1.0; 3]),
            successes: 0,
            episodes: 600,
            hazard_entries: 0,
            cost_spearman: OverSeeds::new(rho),
        }
    }

    #[test]
    fn the_table_names_a_seed_that_learned_a_poor_latent() {
        let report = GridReport {
            world: "two_rooms".to_owned(),
            seeds: vec![0, 1, 2],
            learner_steps: 1300,
            episodes: 200,
            variant_episodes: 50,
            practice_success: OverSeeds::new(vec![0.4, 0.5, 0.3]),
            rows: vec![
                row("two_rooms", vec![0.8, 0.9, 0.5], vec![0.91, 0.94, 0.15]),
                // A variant's ρ is expected to be poor: not a seed's fault.
                row("recoloured", vec![0.0; 3], vec![0.1, 0.2, 0.1]),
            ],
        };
        let text = render(&report);
        assert!(text.contains("seed 2 learned a poor latent: its cost ρ on two_rooms is 0.150"));
        assert_eq!(text.matches("poor latent").count(), 1, "{text}");
    }

    #[test]
    fn over_seeds_gives_the_t_interval() {
        let s = OverSeeds::new(vec![0.8, 0.9, 1.0]);
        assert!((s.mean - 0.9).abs() < 1e-12);
        assert!((s.sd - 0.1).abs() < 1e-12);
        // t(2) = 4.303: half width 4.303 · 0.1 / √3.
        assert!((s.ci95[1] - 0.9 - 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(s.range, [0.8, 1.0]);
        let one = OverSeeds::new(vec![0.5]);
        assert_eq!(one.ci95, [0.5, 0.5]);
        // A ratio to a success of 0 is no number: left out, and counted.
        let some = OverSeeds::new(vec![0.5, f64::NAN, 0.7]);
        assert_eq!((some.values.len(), some.undefined), (2, 1));
        assert!((some.mean - 0.6).abs() < 1e-12);
        assert!(OverSeeds::new(vec![]).mean.is_nan());
    }
}
