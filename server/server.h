// server/server.h — keepd: wires config, storage, auth and the HTTPS
// listener together, and runs them on a pool of threads.
#pragma once

#include "config/config.h"
#include "core/error.h"

namespace keep::server {

// The whole of keepd's main(): arguments, config, start-up checks, serving
// until SIGINT/SIGTERM. Returns the process exit code.
int Main(int argc, char** argv);

}  // namespace keep::server
