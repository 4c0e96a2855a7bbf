/**
 * The main-area dataset viewer as a JupyterLab plugin: the command
 * `voxcat:open-dataset` ({id}) opens a dataset in a tab of its own (one per dataset,
 * brought to the front when already open), and the tabs come back on reload
 * (ILayoutRestorer + WidgetTracker).
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { InputDialog, MainAreaWidget, Notification, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import * as api from './api';
import { readCode } from './code';
import { DatasetViewer } from './viewer';

export const OPEN_DATASET = 'voxcat:open-dataset';

/** Put `code` into the current notebook (a new cell at its end, unless the last one
 * is empty), or into a new notebook on the server's default kernel. */
export async function insertCode(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null,
  code: string
): Promise<void> {
  let panel: NotebookPanel | null = notebooks?.currentWidget ?? null;
  if (!panel) {
    await app.serviceManager.kernelspecs.ready;
    const kernelName = app.serviceManager.kernelspecs.specs?.default;
    panel = (await app.commands.execute('notebook:create-new', kernelName ? { kernelName } : {})) as NotebookPanel;
  }
  await panel.context.ready;
  const notebook = panel.content;
  if (notebook.widgets.length === 0) {
    NotebookActions.insertBelow(notebook);
  } else {
    notebook.activeCellIndex = notebook.widgets.length - 1;
    if (notebook.activeCell?.model.sharedModel.getSource() !== '') {
      NotebookActions.insertBelow(notebook);
    }
  }
  notebook.activeCell?.model.sharedModel.setSource(code);
  app.shell.activateById(panel.id);
}

/** The viewer plugin, with the catalogue's icon on its tabs. */
export function createViewerPlugin(icon: LabIcon): JupyterFrontEndPlugin<void> {
  return {
    id: '@voxcat/jupyterlab:viewer',
    description: 'Datasets in main-area tabs: slices, contrast, colour maps, label overlays, lineage.',
    autoStart: true,
    optional: [ILayoutRestorer, INotebookTracker],
    activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null, notebooks: INotebookTracker | null) => {
      const tracker = new WidgetTracker<MainAreaWidget<DatasetViewer>>({ namespace: 'voxcat-viewer' });
      const insert = async (id: string): Promise<void> => {
        try {
          const info = await api.info();
          await insertCode(app, notebooks, readCode(info.index, id));
        } catch (error) {
          Notification.error(`voxcat: could not insert code: ${(error as Error).message}`);
        }
      };
      const open = (id: string): MainAreaWidget<DatasetViewer> => {
        const found = tracker.find(w => w.content.datasetId === id);
        if (found) {
          app.shell.activateById(found.id);
          return found;
        }
        const content = new DatasetViewer(id, {
          insert,
          open: other => void app.commands.execute(OPEN_DATASET, { id: other })
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `voxcat-dataset-${id}`;
        widget.addClass('voxcat-viewer-tab');
        widget.title.icon = icon;
        widget.title.closable = true;
        // the tab shows the dataset's name once it is known
        content.title.changed.connect(() => {
          widget.title.label = content.title.label;
          widget.title.caption = content.title.caption;
        });
        widget.title.label = id;
        void tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      };
      app.commands.addCommand(OPEN_DATASET, {
        label: args => (args.id ? `Open voxcat dataset ${String(args.id)}` : 'Open a voxcat dataset…'),
        icon,
        execute: async args => {
          let id = typeof args.id === 'string' ? args.id.trim() : '';
          if (!id) {
            const answer = await InputDialog.getText({ title: 'Open a voxcat dataset', label: 'Dataset id' });
            id = answer.button.accept ? (answer.value ?? '').trim() : '';
          }
          if (id) {
            open(id);
          }
        }
      });
      if (restorer) {
        void restorer.restore(tracker, {
          command: OPEN_DATASET,
          args: w => ({ id: w.content.datasetId }),
          name: w => w.content.datasetId
        });
      }
    }
  };
}
