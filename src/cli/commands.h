// The command line (docs/OPERATIONS.md): bouncer serve | keys create/list/revoke | tokens inspect |
// signing-keys rotate. Returns the process exit code.
#pragma once

namespace bouncer::cli {

int run(int argc, char** argv);

}  // namespace bouncer::cli
