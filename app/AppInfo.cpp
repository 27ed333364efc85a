// Version and identity of the application, shared by the app and its tests.
#include "app/AppInfo.h"

QString AppInfo::version() { return QStringLiteral(TESSERA_VERSION); }
QString AppInfo::applicationId() { return QStringLiteral("io.tessera.Tessera"); }
