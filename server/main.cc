// keepd's entry point: everything is in server/server.cc.
#include "server/server.h"

int main(int argc, char** argv) { return keep::server::Main(argc, argv); }
