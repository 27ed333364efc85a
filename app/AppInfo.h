// Version and identity of the application.
#pragma once

#include <QString>

class AppInfo {
public:
    static QString version();
    static QString applicationId();
};
