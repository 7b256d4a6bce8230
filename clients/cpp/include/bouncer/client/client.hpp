// Bouncer's C++ client: everything in one include.
#pragma once

#include <bouncer/client/credential.hpp>
#include <bouncer/client/errors.hpp>
#include <bouncer/client/mint.hpp>
#include <bouncer/client/session.hpp>
#include <bouncer/client/tls.hpp>
#include <bouncer/client/version.hpp>
