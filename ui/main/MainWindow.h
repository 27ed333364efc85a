// MainWindow: the sidebar, the Chat and Images panes, and the status bar (model, device, memory in use,
// tokens per second). It owns the window-wide shortcuts and forwards images dropped anywhere on the
// window to the composer. Controllers in app/ fill it; it never calls the engine or storage.
#pragma once

#include <QHash>
#include <QMainWindow>

class ChatPane;
class ImageGenPane;
class QLabel;
class QSplitter;
class QTabWidget;
class Sidebar;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    Sidebar* sidebar() const { return m_sidebar; }
    ChatPane* chatPane() const { return m_chat; }
    ImageGenPane* imagePane() const { return m_images; }
    QTabWidget* panes() const { return m_panes; }
    QSplitter* splitter() const { return m_splitter; }

    void setStatusModel(const QString& text);
    void setStatusDevice(const QString& text);
    void setStatusMemory(const QString& text);
    void setStatusSpeed(double tokensPerSecond);
    void setStatusState(const QString& text);
    QString statusText() const;

signals:
    void newChatRequested();
    void stopRequested();
    void settingsRequested();
    void modelsRequested();
    void closing();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void addShortcuts();
    void setStatusPart(QLabel* part, const QString& text);

    QSplitter* m_splitter = nullptr;
    Sidebar* m_sidebar = nullptr;
    QTabWidget* m_panes = nullptr;
    ChatPane* m_chat = nullptr;
    ImageGenPane* m_images = nullptr;
    QLabel* m_model = nullptr;
    QLabel* m_device = nullptr;
    QLabel* m_memory = nullptr;
    QLabel* m_speed = nullptr;
    QLabel* m_state = nullptr;
    QHash<QLabel*, QLabel*> m_separators;  // the dot before each part but the first
};
