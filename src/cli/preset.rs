//! `dockgate preset`: lists the shipped policies and prints one, so an
//! admin reads what `policies = ["preset:NAME"]` allows before naming it.

use clap::Subcommand;

use crate::config::preset;

/// The `dockgate preset` subcommands.
#[derive(Debug, Subcommand)]
pub enum PresetCommand {
    /// List the shipped presets, as a client's `policies` names them.
    List,
    /// Print a preset's file: its rules, and the comments that say what it
    /// allows, which source it was derived from and what it refuses.
    Show {
        /// The preset, with or without the `preset:` prefix.
        name: String,
    },
}

/// What the command prints on stdout, or the error for stderr.
pub fn run(cmd: &PresetCommand) -> Result<String, String> {
    match cmd {
        PresetCommand::List => Ok(preset::names()
            .map(|name| format!("{}{name}\n", preset::PREFIX))
            .collect()),
        PresetCommand::Show { name } => {
            let bare = name.strip_prefix(preset::PREFIX).unwrap_or(name);
            preset::text(bare).map(str::to_owned).ok_or_else(|| {
                format!(
                    "no preset named {bare:?} (presets: {})",
                    preset::names().collect::<Vec<_>>().join(", ")
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_prints_the_file_with_or_without_the_prefix() {
        let bare = run(&PresetCommand::Show {
            name: "traefik".into(),
        })
        .unwrap();
        let prefixed = run(&PresetCommand::Show {
            name: "preset:traefik".into(),
        })
        .unwrap();
        assert_eq!(bare, prefixed);
        assert!(bare.contains("\"GET /events\""), "{bare}");
        let unknown = run(&PresetCommand::Show {
            name: "preset:nope".into(),
        })
        .unwrap_err();
        assert!(unknown.contains("traefik"), "{unknown}");
    }

    #[test]
    fn list_names_every_preset_with_its_prefix() {
        let listed = run(&PresetCommand::List).unwrap();
        assert_eq!(listed.lines().count(), preset::names().count());
        assert!(listed.lines().all(|l| l.starts_with("preset:")), "{listed}");
    }
}
