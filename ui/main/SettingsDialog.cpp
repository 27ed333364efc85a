// SettingsDialog: a form; folders are chosen with non-blocking file dialogs.
#include "ui/main/SettingsDialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "ui/chat/SamplingEditor.h"

SettingsDialog::SettingsDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Settings"));
    setAccessibleName(tr("Settings"));
    auto* layout = new QVBoxLayout(this);
    auto* look = new QGroupBox(tr("Appearance"), this);
    auto* lf = new QFormLayout(look);
    m_theme = new QComboBox(look);
    m_theme->addItem(tr("Follow the system"), int(ThemeMode::System));
    m_theme->addItem(tr("Light"), int(ThemeMode::Light));
    m_theme->addItem(tr("Dark"), int(ThemeMode::Dark));
    m_theme->setAccessibleName(tr("Theme"));
    m_font = new QSpinBox(look);
    m_font->setRange(0, 32);
    m_font->setSpecialValueText(tr("System size"));
    m_font->setSuffix(tr(" pt"));
    m_font->setAccessibleName(tr("Font size"));
    lf->addRow(tr("&Theme:"), m_theme);
    lf->addRow(tr("&Font size:"), m_font);
    layout->addWidget(look);

    auto* paths = new QGroupBox(tr("Folders"), this);
    auto* pf = new QFormLayout(paths);
    auto* dataRow = new QHBoxLayout;
    m_dataDir = new QLineEdit(paths);
    m_dataDir->setAccessibleName(tr("Data folder"));
    m_dataDir->setPlaceholderText(tr("Default (XDG data folder)"));
    auto* browse = new QPushButton(tr("Choose…"), paths);
    browse->setAccessibleName(tr("Choose data folder"));
    dataRow->addWidget(m_dataDir, 1);
    dataRow->addWidget(browse);
    pf->addRow(tr("&Data folder:"), dataRow);
    auto* folderRow = new QHBoxLayout;
    m_folders = new QListWidget(paths);
    m_folders->setAccessibleName(tr("Model folders"));
    m_folders->setMaximumHeight(100);
    auto* fb = new QVBoxLayout;
    auto* add = new QPushButton(tr("Add…"), paths);
    add->setAccessibleName(tr("Add model folder"));
    auto* remove = new QPushButton(tr("Remove"), paths);
    remove->setAccessibleName(tr("Remove model folder"));
    fb->addWidget(add);
    fb->addWidget(remove);
    fb->addStretch(1);
    folderRow->addWidget(m_folders, 1);
    folderRow->addLayout(fb);
    pf->addRow(tr("&Model folders:"), folderRow);
    layout->addWidget(paths);
    auto* sampling = new QGroupBox(tr("Default sampling for new chats"), this);
    auto* sl = new QVBoxLayout(sampling);
    m_sampling = new SamplingEditor(sampling);
    sl->addWidget(m_sampling);
    layout->addWidget(sampling);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(browse, &QPushButton::clicked, this, [this] {
        auto* d = new QFileDialog(this, tr("Data folder"), m_dataDir->text());
        d->setFileMode(QFileDialog::Directory);
        d->setAttribute(Qt::WA_DeleteOnClose);
        connect(d, &QFileDialog::fileSelected, m_dataDir, &QLineEdit::setText);
        d->open();
    });
    connect(add, &QPushButton::clicked, this, [this] {
        auto* d = new QFileDialog(this, tr("Add model folder"));
        d->setFileMode(QFileDialog::Directory);
        d->setAttribute(Qt::WA_DeleteOnClose);
        connect(d, &QFileDialog::fileSelected, this, [this](const QString& f) { m_folders->addItem(f); });
        d->open();
    });
    connect(remove, &QPushButton::clicked, this, [this] { delete m_folders->currentItem(); });
}

void SettingsDialog::setValues(const SettingsValues& v) {
    m_theme->setCurrentIndex(m_theme->findData(int(v.theme)));
    m_font->setValue(v.fontPoints);
    m_dataDir->setText(v.dataDir);
    m_folders->clear();
    m_folders->addItems(v.modelFolders);
    m_sampling->setValue(v.sampling);
}

SettingsValues SettingsDialog::values() const {
    SettingsValues v;
    v.theme = ThemeMode(m_theme->currentData().toInt());
    v.fontPoints = m_font->value();
    v.dataDir = m_dataDir->text().trimmed();
    for (int i = 0; i < m_folders->count(); ++i) v.modelFolders << m_folders->item(i)->text();
    v.sampling = m_sampling->value();
    return v;
}
