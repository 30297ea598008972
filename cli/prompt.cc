#include "cli/prompt.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace keep::cli {
namespace {

void DropNewline(std::string& s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
}

// Reads fd up to EOF, or up to the first newline when `line`.
bool ReadFd(int fd, std::string& out, bool line) {
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out += c;
    if (line && c == '\n') return true;
    if (out.size() > 4096) return true;
  }
}

// While echo is off: the terminal and its saved mode, restored if a signal
// (Ctrl-C) ends keepctl at the prompt.
int g_tty = -1;
termios g_saved{};

extern "C" void RestoreAndDie(int sig) {
  if (g_tty >= 0) ::tcsetattr(g_tty, TCSAFLUSH, &g_saved);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

Result<std::string> ReadPasswordFromStdin(std::string_view flag, std::string_view what) {
  std::string password;
  if (!ReadFd(STDIN_FILENO, password, false)) {
    return Failed("cannot read the " + std::string(what) + " from stdin");
  }
  DropNewline(password);
  if (password.empty()) {
    return Failed(std::string(flag) + ": standard input held no " + std::string(what));
  }
  return password;
}

Result<std::string> AskPassword(const std::string& prompt) {
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) {
    return Failed("no terminal to ask for the password on",
                  "pass it on stdin with --password-stdin, or in KEEPCTL_PASSWORD");
  }
  bool restore = ::tcgetattr(tty, &g_saved) == 0;
  if (restore) {
    g_tty = tty;
    std::signal(SIGINT, RestoreAndDie);
    std::signal(SIGTERM, RestoreAndDie);
    std::signal(SIGHUP, RestoreAndDie);
    termios quiet = g_saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  ssize_t ignored = ::write(tty, prompt.data(), prompt.size());
  (void)ignored;
  std::string password;
  bool ok = ReadFd(tty, password, true);
  if (restore) {
    ::tcsetattr(tty, TCSAFLUSH, &g_saved);
    g_tty = -1;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_DFL);
  }
  ::close(tty);
  if (!ok) return Failed("cannot read the password from the terminal");
  DropNewline(password);
  if (password.empty()) return Failed("no password given");
  return password;
}

}  // namespace keep::cli
