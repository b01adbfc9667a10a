#include "supervisor/private_paths.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pgep {

namespace {

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// mkdir -p, where each directory made here is 0700 whatever the umask.
std::string create_missing(const std::string& directory) {
  for (size_t at = directory.find('/', 1);; at = directory.find('/', at + 1)) {
    std::string prefix = directory.substr(0, at);
    if (!prefix.empty() && prefix.back() != '/') {
      if (::mkdir(prefix.c_str(), 0700) == 0) {
        ::chmod(prefix.c_str(), 0700);
      } else if (errno != EEXIST) {
        return "cannot create the directory " + prefix + ": " + std::strerror(errno);
      }
    }
    if (at == std::string::npos) return "";
  }
}

bool writable_by_others(const struct stat& st) { return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0; }

bool owned_by_us_or_root(const struct stat& st) { return st.st_uid == ::geteuid() || st.st_uid == 0; }

// Every directory above `real`: another user who may rename or replace one of them could
// replace `real` itself. A sticky directory (/tmp) lets nobody rename what is not theirs.
std::string check_ancestors(const std::string& real, const std::string& named) {
  for (std::string up = parent_of(real);; up = parent_of(up)) {
    struct stat st{};
    if (::stat(up.c_str(), &st) != 0) return "cannot read " + up + ": " + std::strerror(errno);
    if (!owned_by_us_or_root(st) || (writable_by_others(st) && !(st.st_mode & S_ISVTX))) {
      return "the directory " + up + " above " + named + " may be changed by another user (owner uid " +
             std::to_string(st.st_uid) + ", mode " + mode_text(st.st_mode) +
             "); expected every directory above it owned by root or pgep's user and not writable by others, "
             "unless sticky like /tmp";
    }
    if (up == "/" || up == ".") return "";
  }
}

}  // namespace

std::string prepare_private_directory(const std::string& directory) {
  if (directory.empty()) return "no directory given";
  if (std::string problem = create_missing(directory); !problem.empty()) return problem;
  char real[PATH_MAX];
  if (::realpath(directory.c_str(), real) == nullptr) return "cannot resolve " + directory + ": " + std::strerror(errno);
  struct stat st{};
  if (::stat(real, &st) != 0) return "cannot read " + directory + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return directory + " is not a directory";
  if (!owned_by_us_or_root(st)) {
    return "the directory " + directory + " belongs to uid " + std::to_string(st.st_uid) +
           "; expected one owned by pgep's user (uid " + std::to_string(::geteuid()) + ") or root";
  }
  if (writable_by_others(st)) {
    return "the directory " + directory + " is writable by others (mode " + mode_text(st.st_mode) +
           "); expected one only its owner may write, as pgep creates them (0700)";
  }
  return check_ancestors(real, directory);
}

std::string check_private_file(const std::string& path, const std::string& what) {
  if (std::string problem = prepare_private_directory(parent_of(path)); !problem.empty()) {
    return what + " " + path + ": " + problem;
  }
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return what + " " + path + " is a symbolic link; expected a plain path (pgep never writes through a link)";
  }
  return "";
}

std::vector<std::string> prepare_private_paths(const DaemonSettings& daemon) {
  std::vector<std::string> problems;
  auto check = [&](const std::string& problem) {
    if (!problem.empty()) problems.push_back(problem);
  };
  check(check_private_file(daemon.control_socket, "the control socket"));
  if (!daemon.state_file.empty()) {
    check(check_private_file(daemon.state_file, "the state file"));
  } else if (std::string problem = prepare_private_directory(daemon.state_directory); !problem.empty()) {
    check("the state directory: " + problem);
  }
  if (!daemon.pid_file.empty()) check(check_private_file(daemon.pid_file, "the pid file"));
  return problems;
}

}  // namespace pgep
