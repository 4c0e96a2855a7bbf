/**
 * voxcat's JupyterLab plugin: the catalogue sidebar in the left area, and commands
 * to open it and to insert code reading a dataset into a notebook; the palette's
 * "voxcat: Search", "voxcat: Open dataset…" and "voxcat: Scan a folder…"; the
 * settings of schema/plugin.json; the front end / server version check.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import * as api from './api';

import { readCode } from './code';
import { encodeValue } from './query';
import { ISidebarSettings, VoxcatSidebar } from './sidebar';
import { VERSION, versionWarning } from './version';
import { createViewerPlugin, insertCode, OPEN_DATASET } from './viewerplugin';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161"><path d="M12 2 3 7v10l9 5 9-5V7l-9-5zm0 2.3L18.7 8 12 11.7 5.3 8 12 4.3zM5 9.7l6 3.3v6.6l-6-3.3V9.7zm8 9.9V13l6-3.3v6.6l-6 3.3z"/></g></svg>`;

export const voxcatIcon = new LabIcon({ name: 'voxcat:cube', svgstr: ICON_SVG });

export namespace CommandIDs {
  export const open = 'voxcat:open';
  export const insertCode = 'voxcat:insert-code';
  export const search = 'voxcat:search';
  export const openDatasetPrompt = 'voxcat:open-dataset-prompt';
  export const scanFolder = 'voxcat:scan-folder';
  /** the main-area dataset viewer's command (another plugin may add it), args {id} */
  export const openDataset = OPEN_DATASET;
}

const PLUGIN_ID = '@voxcat/jupyterlab:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The voxcat catalogue sidebar: search, facets, thumbnails, slice preview and jobs.',
  autoStart: true,
  optional: [ILabShell, INotebookTracker, ICommandPalette, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const sidebar = new VoxcatSidebar({
      insertCode: (index, id) => insertCode(app, tracker, readCode(index, id)),
      // a dataset opens in its main-area tab (the viewer plugin's command)
      openDataset: id =>
        app.commands.hasCommand(OPEN_DATASET) && (void app.commands.execute(OPEN_DATASET, { id }), true)
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
          await insertCode(app, tracker, readCode(index, id));
        }
      }
    });
    palette?.addItem({ command: CommandIDs.open, category: 'voxcat' });
    addPaletteCommands(app, sidebar, palette);
    if (settingRegistry) {
      void loadSettings(settingRegistry, sidebar);
    }
    void checkVersion();
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

/** The sidebar's settings from the registry, applied now and whenever they change. */
async function loadSettings(registry: ISettingRegistry, sidebar: VoxcatSidebar): Promise<void> {
  try {
    const settings = await registry.load(PLUGIN_ID);
    const apply = (): void => sidebar.applySettings(settings.composite as unknown as ISidebarSettings);
    apply();
    settings.changed.connect(apply);
  } catch (error) {
    console.warn(`voxcat: could not load the settings of ${PLUGIN_ID}`, error);
  }
}

let versionChecked = false;

/** Warn once per page when the server extension's version is not this front end's. */
async function checkVersion(): Promise<void> {
  if (versionChecked) {
    return;
  }
  versionChecked = true;
  let server: string | undefined;
  try {
    server = (await api.info()).version;
  } catch {
    return; // the sidebar already says the server extension is unavailable
  }
  const warning = versionWarning(VERSION, server);
  if (warning) {
    Notification.warning(warning, { autoClose: false });
  }
}

/** The dataset an id or a name names: the id when a dataset has it, else the one
 * dataset of that name; null when none (or several) match. */
async function findDataset(text: string): Promise<{ id: string | null; matches: number }> {
  try {
    return { id: (await api.dataset(text)).id, matches: 1 };
  } catch (error) {
    // 404: no such id; 400: not even the form of an id
    if (!(error instanceof api.ApiError) || (error.status !== 404 && error.status !== 400)) {
      throw error;
    }
  }
  const params = new URLSearchParams({ name: encodeValue(text) });
  const page = await api.search(params, 0, 2);
  return { id: page.total === 1 ? page.rows[0].id : null, matches: page.total };
}

/** "voxcat: Search", "voxcat: Open dataset…" and "voxcat: Scan a folder…". */
function addPaletteCommands(app: JupyterFrontEnd, sidebar: VoxcatSidebar, palette: ICommandPalette | null): void {
  const show = (): void => {
    app.shell.activateById(sidebar.id);
  };
  app.commands.addCommand(CommandIDs.search, {
    label: 'voxcat: Search',
    caption: 'Search the voxcat catalogue: words and field:value terms, e.g. modality:CT size:>1GB',
    icon: voxcatIcon,
    execute: args => {
      show();
      if (typeof args.query === 'string') {
        sidebar.search(args.query);
      }
      // after the command palette has closed and handed the focus back
      requestAnimationFrame(() => sidebar.focusSearch());
    }
  });
  app.commands.addCommand(CommandIDs.openDatasetPrompt, {
    label: 'voxcat: Open dataset…',
    caption: 'Open a voxcat dataset by its id or its name',
    execute: async args => {
      let text = typeof args.id === 'string' ? args.id : '';
      if (!text) {
        const answer = await InputDialog.getText({
          title: 'Open a voxcat dataset',
          label: 'Dataset id or name',
          placeholder: 'e.g. k2x9q4m1abcd or sandstone_0.tif'
        });
        text = (answer.button.accept && answer.value?.trim()) || '';
      }
      if (!text) {
        return;
      }
      let found: { id: string | null; matches: number };
      try {
        found = await findDataset(text);
      } catch (error) {
        Notification.error(`voxcat: ${(error as Error).message}`, { autoClose: 8000 });
        return;
      }
      if (found.id === null) {
        // none or several: show what matches the name in the sidebar
        show();
        sidebar.search(`name:"${text.replace(/"/g, '')}"`);
        Notification.warning(
          found.matches === 0
            ? `voxcat: no dataset has the id or the name ${text}`
            : `voxcat: ${found.matches} datasets are named ${text}; pick one in the sidebar`,
          { autoClose: 6000 }
        );
        return;
      }
      if (app.commands.hasCommand(CommandIDs.openDataset)) {
        await app.commands.execute(CommandIDs.openDataset, { id: found.id });
      } else {
        show();
        sidebar.openDataset(found.id);
      }
    }
  });
  app.commands.addCommand(CommandIDs.scanFolder, {
    label: 'voxcat: Scan a folder…',
    caption: 'Scan a folder into the voxcat index (a background job of the server)',
    execute: async args => {
      let path = typeof args.path === 'string' ? args.path : '';
      if (!path) {
        const answer = await InputDialog.getText({
          title: 'Scan a folder into the voxcat index',
          label: 'Folder (relative to the server root, or absolute)',
          placeholder: 'e.g. data/new scans'
        });
        path = (answer.button.accept && answer.value?.trim()) || '';
      }
      if (path) {
        show(); // the jobs view shows the job, and polls while it is visible
        await sidebar.startJob({ kind: 'scan', path });
      }
    }
  });
  for (const command of [CommandIDs.search, CommandIDs.openDatasetPrompt, CommandIDs.scanFolder]) {
    palette?.addItem({ command, category: 'voxcat' });
  }
}
