// The files pgep creates and replaces on its own (the control socket, the state files, the pid
// file) live in directories nobody else can write. Otherwise another local user could put a
// symbolic link where pgep is about to write, and have pgep (perhaps as root) overwrite a file of
// its choosing, or answer pgep-ctl in pgep's place. OpenSSH's StrictModes and Postfix's
// "safe_open" follow the same rules.
#pragma once

#include <string>
#include <vector>

#include "shared/config.h"

namespace pgep {

// Creates `directory` and any missing parent (0700), then checks it: "" when it is safe, else
// the problem, naming the directory and what is expected. Safe: the directory is owned by pgep's
// user or root and no one else may write to it, and every directory above it is either not
// writable by others or sticky (as /tmp is).
std::string prepare_private_directory(const std::string& directory);

// `path` is a file pgep will create or replace: its directory is prepared as above, and `path`
// itself, if it exists, must not be a symbolic link. `what` names it in the error ("the state file").
std::string check_private_file(const std::string& path, const std::string& what);

// Every private path of the daemon's settings, checked once at start; the problems, if any.
std::vector<std::string> prepare_private_paths(const DaemonSettings& daemon);

}  // namespace pgep
