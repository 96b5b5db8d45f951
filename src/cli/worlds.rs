//! `kennel worlds`: list the shipped worlds, print the JSON Schema, validate files.

use clap::Subcommand;

use crate::world_files::{BUILTIN_WORLDS, load_world};

#[derive(Debug, Subcommand)]
pub enum WorldsCommand {
    /// List the shipped worlds with their descriptions.
    List,
    /// Print the JSON Schema of world files (generated from the types).
    Schema,
    /// Check world files (paths or shipped names); exits non-zero if any is invalid.
    Validate {
        /// World files or shipped world names.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

pub fn run(command: WorldsCommand) -> anyhow::Result<()> {
    match command {
        WorldsCommand::List => {
            for (name, _) in BUILTIN_WORLDS {
                let spec = load_world(name)?;
                println!("{name:<12} {}", spec.description);
            }
            Ok(())
        }
        WorldsCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&sim::world_schema())?);
            Ok(())
        }
        WorldsCommand::Validate { files } => {
            let mut failures = 0;
            for file in &files {
                match load_world(file) {
                    Ok(spec) => println!("ok      {file} ({})", spec.name),
                    Err(err) => {
                        failures += 1;
                        println!("invalid {err:#}");
                    }
                }
            }
            if failures > 0 {
                anyhow::bail!("{failures} of {} world files are invalid", files.len());
            }
            Ok(())
        }
    }
}
