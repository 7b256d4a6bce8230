#include "cli/commands.h"

int main(int argc, char** argv) { return bouncer::cli::run(argc, argv); }
