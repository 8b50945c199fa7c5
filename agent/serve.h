/* `cirun-agent serve`: answers cirun's requests on stdin/stdout (the SSH channel) until
 * BYE or the end of the stream. One request at a time; every request gets OK, ERROR or
 * its own reply, so the installer always knows where it stands. Nothing but frames is
 * ever written to stdout. */
#pragma once

int agent_serve(int in_fd, int out_fd);
