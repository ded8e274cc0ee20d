/* ddbrun's version, shown by -v, ddb.version and the User-Agent header. */
#ifndef DDBRUN_VERSION_H
#define DDBRUN_VERSION_H

#define DDBRUN_VERSION "0.1.0"

#endif
