// ModelManagerDialog: folder list on top, the model table, the per-model error panel and the actions.
#include "ui/models/ModelManagerDialog.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

#include "ui/common/Banner.h"
#include "ui/common/Icons.h"
#include "ui/models/ModelListModel.h"

ModelManagerDialog::ModelManagerDialog(ModelListModel* model, QWidget* parent) : QDialog(parent), m_model(model) {
    setWindowTitle(tr("Models"));
    setAccessibleName(tr("Model manager"));
    resize(900, 560);
    auto* layout = new QVBoxLayout(this);
    layout->setSpacing(8);

    m_device = new QLabel(this);
    m_device->setObjectName(QStringLiteral("Muted"));
    layout->addWidget(m_device);

    auto* folderLabel = new QLabel(tr("Model folders"), this);
    layout->addWidget(folderLabel);
    auto* folderRow = new QHBoxLayout;
    m_folders = new QListWidget(this);
    m_folders->setAccessibleName(tr("Model folders"));
    m_folders->setMaximumHeight(90);
    folderLabel->setBuddy(m_folders);
    auto* folderButtons = new QVBoxLayout;
    auto* add = new QPushButton(Icons::icon(QStringLiteral("folder")), tr("Add folder…"), this);
    add->setAccessibleName(tr("Add model folder"));
    m_removeFolder = new QPushButton(Icons::icon(QStringLiteral("trash")), tr("Remove"), this);
    m_removeFolder->setAccessibleName(tr("Remove model folder"));
    folderButtons->addWidget(add);
    folderButtons->addWidget(m_removeFolder);
    folderButtons->addStretch(1);
    folderRow->addWidget(m_folders, 1);
    folderRow->addLayout(folderButtons);
    layout->addLayout(folderRow);

    m_banner = new Banner(this);
    layout->addWidget(m_banner);

    m_table = new QTableView(this);
    m_table->setModel(model);
    m_table->setAccessibleName(tr("Models found"));
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(ModelListModel::NameColumn, QHeaderView::Stretch);
    m_table->setShowGrid(false);
    m_table->setAlternatingRowColors(true);
    layout->addWidget(m_table, 1);

    m_errorPanel = new QLabel(this);
    m_errorPanel->setObjectName(QStringLiteral("Banner"));
    m_errorPanel->setWordWrap(true);
    m_errorPanel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_errorPanel->setAccessibleName(tr("What is wrong with this model"));
    m_errorPanel->setMargin(8);
    m_errorPanel->hide();
    layout->addWidget(m_errorPanel);

    m_progress = new QProgressBar(this);
    m_progress->setAccessibleName(tr("Loading progress"));
    m_progress->setRange(0, 100);
    m_progress->hide();
    layout->addWidget(m_progress);

    auto* actions = new QHBoxLayout;
    m_default = new QPushButton(tr("Use for new chats"), this);
    m_default->setAccessibleName(tr("Use for new chats"));
    m_unload = new QPushButton(tr("Unload"), this);
    m_unload->setAccessibleName(tr("Unload model"));
    m_load = new QPushButton(tr("Load"), this);
    m_load->setObjectName(QStringLiteral("PrimaryButton"));
    m_load->setAccessibleName(tr("Load model"));
    auto* close = new QPushButton(tr("Close"), this);
    close->setAccessibleName(tr("Close model manager"));
    actions->addWidget(m_default);
    actions->addStretch(1);
    actions->addWidget(m_unload);
    actions->addWidget(m_load);
    actions->addWidget(close);
    layout->addLayout(actions);

    connect(add, &QPushButton::clicked, this, &ModelManagerDialog::chooseFolder);
    connect(m_removeFolder, &QPushButton::clicked, this, [this] {
        if (auto* item = m_folders->currentItem()) emit folderRemoved(item->data(Qt::UserRole).toString());
    });
    connect(m_load, &QPushButton::clicked, this, [this] {
        if (!selectedPath().isEmpty()) emit loadRequested(selectedPath());
    });
    connect(m_unload, &QPushButton::clicked, this, [this] {
        if (!selectedPath().isEmpty()) emit unloadRequested(selectedPath());
    });
    connect(m_default, &QPushButton::clicked, this, [this] {
        if (!selectedPath().isEmpty()) emit defaultModelChosen(selectedPath());
    });
    connect(close, &QPushButton::clicked, this, &QDialog::hide);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &ModelManagerDialog::updateButtons);
    connect(model, &QAbstractItemModel::dataChanged, this, &ModelManagerDialog::updateButtons);
    connect(model, &QAbstractItemModel::modelReset, this, &ModelManagerDialog::updateButtons);
    connect(m_folders, &QListWidget::currentRowChanged, this, &ModelManagerDialog::updateButtons);
    updateButtons();
}

void ModelManagerDialog::setFolders(const QStringList& folders) {
    m_folders->clear();
    // Shown the way people write them (~/models), kept whole for removing.
    const QString home = QDir::homePath();
    for (const QString& f : folders) {
        QString shown = QDir::toNativeSeparators(f);
        if (!home.isEmpty() && home != QLatin1String("/") && (f == home || f.startsWith(home + QLatin1Char('/'))))
            shown = QLatin1Char('~') + QDir::toNativeSeparators(f.mid(home.size()));
        auto* item = new QListWidgetItem(shown, m_folders);
        item->setData(Qt::UserRole, f);
        item->setToolTip(QDir::toNativeSeparators(f));
    }
    updateButtons();
}

void ModelManagerDialog::setDevice(const QString& device) { m_device->setText(tr("Runs on: %1").arg(device)); }

void ModelManagerDialog::setLoadProgress(const QString& path, double fraction) {
    if (path.isEmpty()) {
        m_progress->hide();
        return;
    }
    const ModelEntry* e = m_model->entry(path);
    m_progress->setFormat(tr("Loading %1… %p%").arg(e ? e->name : path));
    m_progress->setValue(int(fraction * 100));
    m_progress->show();
}

void ModelManagerDialog::showError(const QString& message, const QString& detail) {
    m_banner->showMessage(message, detail);
}

QString ModelManagerDialog::selectedPath() const {
    const QModelIndex idx = m_table->currentIndex();
    return idx.isValid() ? idx.data(ModelListModel::PathRole).toString() : QString();
}

void ModelManagerDialog::selectPath(const QString& path) {
    const int row = m_model->rowOf(path);
    if (row >= 0) m_table->selectRow(row);
}

void ModelManagerDialog::updateButtons() {
    m_removeFolder->setEnabled(m_folders->currentItem() != nullptr);
    const QString path = selectedPath();
    const ModelEntry* e = path.isEmpty() ? nullptr : m_model->entry(path);
    const bool usable = e && (e->kind == ModelEntry::Kind::Chat || e->kind == ModelEntry::Kind::Vision);
    m_load->setEnabled(usable && e->state == ModelEntry::State::Unloaded);
    m_unload->setEnabled(e && e->state == ModelEntry::State::Loaded);
    m_default->setEnabled(usable);
    if (e && e->kind == ModelEntry::Kind::Broken) {
        m_errorPanel->setText(tr("<b>%1 cannot be used.</b><br>%2<br><i>%3</i>")
                                  .arg(e->name.toHtmlEscaped(), e->error.toHtmlEscaped(), e->hint.toHtmlEscaped()));
        m_errorPanel->show();
    } else if (e && e->kind == ModelEntry::Kind::Gguf) {
        m_errorPanel->setText(tr("<b>%1</b> is a GGUF file. Tessera lists it, but runs the official checkpoint "
                                 "folders (safetensors or PyTorch .bin).")
                                  .arg(e->name.toHtmlEscaped()));
        m_errorPanel->show();
    } else {
        m_errorPanel->hide();
    }
}

void ModelManagerDialog::chooseFolder() {
    auto* dialog = new QFileDialog(this, tr("Add model folder"));
    dialog->setFileMode(QFileDialog::Directory);
    dialog->setOption(QFileDialog::ShowDirsOnly);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QFileDialog::fileSelected, this, &ModelManagerDialog::folderAdded);
    dialog->open();
}
