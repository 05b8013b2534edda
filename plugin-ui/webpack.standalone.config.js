// @ts-check
/* The standalone page (dist-standalone/): index.html plus hashed assets under assets/, all URLs
   relative, PatternFly's CSS and fonts bundled. */
const path = require('path');
const HtmlWebpackPlugin = require('html-webpack-plugin');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');
const webpack = require('webpack');
const { isProd, tsRule, mjsRule, assetRule, minimizer } = require('./webpack.common');

/** @type {import('webpack').Configuration} */
module.exports = {
  mode: isProd ? 'production' : 'development',
  context: __dirname,
  entry: { flowgate: './src/standalone/index.tsx' },
  output: {
    path: path.resolve(__dirname, 'dist-standalone'),
    publicPath: '',
    filename: 'assets/[name].[contenthash:8].js',
    chunkFilename: 'assets/[name].[contenthash:8].js',
    clean: true,
  },
  resolve: { extensions: ['.ts', '.tsx', '.js', '.jsx'] },
  module: {
    rules: [
      tsRule,
      { test: /\.css$/, use: [{ loader: MiniCssExtractPlugin.loader, options: { publicPath: '../' } }, 'css-loader'] },
      assetRule('assets'),
      mjsRule,
    ],
  },
  plugins: [
    // One script, one stylesheet: nothing loaded later from a path the server must know.
    new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 }),
    new MiniCssExtractPlugin({ filename: 'assets/[name].[contenthash:8].css' }),
    new HtmlWebpackPlugin({
      template: path.resolve(__dirname, 'src/standalone/index.html'),
      filename: 'index.html',
      scriptLoading: 'defer',
    }),
  ],
  devtool: isProd ? false : 'source-map',
  optimization: { minimize: isProd, minimizer },
  performance: { hints: false },
};
