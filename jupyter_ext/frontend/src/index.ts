/**
 * voxcat's JupyterLab plugin: the catalogue sidebar in the left area, and commands
 * to open it and to insert code reading a dataset into a notebook.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { readCode } from './code';
import { VoxcatSidebar } from './sidebar';
import { createViewerPlugin, OPEN_DATASET } from './viewerplugin';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161"><path d="M12 2 3 7v10l9 5 9-5V7l-9-5zm0 2.3L18.7 8 12 11.7 5.3 8 12 4.3zM5 9.7l6 3.3v6.6l-6-3.3V9.7zm8 9.9V13l6-3.3v6.6l-6 3.3z"/></g></svg>`;

export const voxcatIcon = new LabIcon({ name: 'voxcat:cube', svgstr: ICON_SVG });

export namespace CommandIDs {
  export const open = 'voxcat:open';
  export const insertCode = 'voxcat:insert-code';
}

/** Put `code` in a new cell below the active one of the current notebook (or of a
 * new notebook when none is open) and select it. */
async function insertIntoNotebook(app: JupyterFrontEnd, tracker: INotebookTracker | null, code: string): Promise<void> {
  let panel: NotebookPanel | null = tracker?.currentWidget ?? null;
  if (!panel) {
    panel = (await app.commands.execute('notebook:create-new', { kernelName: 'python3' })) as NotebookPanel;
    await panel.context.ready;
    const first = panel.content.widgets[0];
    if (first && first.model.sharedModel.getSource() === '') {
      first.model.sharedModel.setSource(code);
      panel.content.activeCellIndex = 0;
      app.shell.activateById(panel.id);
      return;
    }
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

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@voxcat/jupyterlab:plugin',
  description: 'The voxcat catalogue sidebar: search, facets, thumbnails, slice preview and jobs.',
  autoStart: true,
  optional: [ILabShell, INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new VoxcatSidebar({
      insertCode: (index, id) => insertIntoNotebook(app, tracker, readCode(index, id)),
      // a dataset opens in its main-area tab (the viewer plugin's command)
      openDataset: id => app.commands.hasCommand(OPEN_DATASET) && (void app.commands.execute(OPEN_DATASET, { id }), true)
    });
    sidebar.title.icon = voxcatIcon;
    app.shell.add(sidebar, 'left', { rank: 600 });

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open the voxcat catalogue',
      icon: voxcatIcon,
      execute: () => {
        app.shell.activateById(sidebar.id);
      }
    });
    app.commands.addCommand(CommandIDs.insertCode, {
      label: 'Insert code reading a voxcat dataset',
      execute: async args => {
        const id = String(args.id ?? '');
        const index = String(args.index ?? '');
        if (id && index) {
          await insertIntoNotebook(app, tracker, readCode(index, id));
        }
      }
    });
    palette?.addItem({ command: CommandIDs.open, category: 'voxcat' });
    if (String(PageConfig.getOption('voxcatOpenSidebar')) === 'true') {
      // `voxcat demo` (c.VoxcatExtension.open_sidebar): show the catalogue at start.
      // The file browser claims the left area once its folder has loaded, after
      // `app.restored`; take it back then, unless the user has clicked meanwhile.
      const show = (): void => {
        labShell?.expandLeft();
        app.shell.activateById(sidebar.id);
      };
      void app.restored.then(() => {
        show();
        if (!labShell) {
          return;
        }
        let touched = false;
        const touch = (): void => {
          touched = true;
        };
        document.addEventListener('pointerdown', touch, { capture: true, once: true });
        const keep = (): void => {
          if (!touched && !sidebar.isVisible) {
            show();
          }
        };
        labShell.layoutModified.connect(keep);
        setTimeout(() => {
          labShell.layoutModified.disconnect(keep);
          document.removeEventListener('pointerdown', touch, { capture: true });
          keep();
        }, 5000);
      });
    }
  }
};

export default [plugin, createViewerPlugin(voxcatIcon)];
